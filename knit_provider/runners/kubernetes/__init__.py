"""The ``kubernetes`` runner's Airflow-free half: the pod a Run becomes, and what a finished pod says.

``pod_spec.build_pod`` turns the service's ``Assignment`` (plus the Plan's placement fields and ``PodSettings``)
into ``kubernetes.client`` models; ``outcome`` reads an exit code or a launch failure back from the pod.
``KnitPodOperator`` (operators/pod.py) hands the pod to the real ``KubernetesPodOperator``.
Its pod-building modules import the kubernetes client, so they are imported only where a pod is built; `names`
and `config` do not (the reconciliation and the settings use them everywhere).
"""
