"""The ``kubernetes`` runner's Airflow-free half: the pod a Run becomes, and what a finished pod says.

``pod_spec.build_pod`` turns the service's ``Assignment`` (plus the Plan's placement fields and ``PodSettings``)
into ``kubernetes.client`` models; ``outcome`` reads an exit code or a launch failure back from the pod.
``KnitPodOperator`` (operators/pod.py) hands the pod to the real ``KubernetesPodOperator``.
Modules import the kubernetes client, so this package is imported only where a pod is built.
"""
