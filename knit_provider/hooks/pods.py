"""The Runs' pods, through the cncf.kubernetes provider's ``KubernetesHook`` (the cluster the kubernetes runner's
``KnitPodOperator`` uses: ``[knit] kubernetes_conn_id``, ``kubernetes_in_cluster``, ``kubernetes_config_file``,
``kubernetes_namespace``)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from knit_provider.service.run_pods import RUN_ANNOTATION, RUN_LABEL, RunPod


class KnitRunPods:
    """``service.run_pods.PodView`` on a real cluster (or the Kubernetes API stand-in the tests use)."""

    def __init__(self, kube: Any) -> None:  # a runners.kubernetes.config.KubernetesSettings
        self.kube = kube

    @cached_property
    def client(self):
        from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

        hook = KubernetesHook(
            conn_id=self.kube.conn_id or None,
            in_cluster=self.kube.in_cluster,
            config_file=None if self.kube.in_cluster else self.kube.config_file,
        )
        return hook.core_v1_client

    def run_pods(self) -> list[RunPod]:
        found = self.client.list_namespaced_pod(self.kube.pod.namespace, label_selector=RUN_LABEL)
        pods = []
        for pod in found.items:
            meta = pod.metadata
            run_id = (meta.annotations or {}).get(RUN_ANNOTATION) or (meta.labels or {}).get(RUN_LABEL)
            created = meta.creation_timestamp
            pods.append(
                RunPod(
                    name=meta.name,
                    namespace=meta.namespace or self.kube.pod.namespace,
                    run_id=run_id,
                    created_at=int(created.timestamp() * 1000) if created is not None else None,
                    phase=pod.status.phase if pod.status is not None else None,
                )
            )
        return pods

    def delete(self, pod: RunPod) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.client.delete_namespaced_pod(pod.name, pod.namespace)
        except ApiException as err:
            if err.status != 404:
                raise
