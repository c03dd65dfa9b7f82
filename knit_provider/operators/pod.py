"""``KnitPodOperator``: one Knit Run as a pod, through the real ``KubernetesPodOperator``.

The pod comes from the Airflow-free ``runners.kubernetes.pod_spec`` (given to KPO as ``full_pod_spec``); KPO
creates it, waits for it to start within the configured timeouts, streams its log into the task log, waits for
the end and deletes it. Around that, ``KnitRunLifecycle`` reports to the catalog: running once the pod started,
then the exit code (or why the pod never started) with the log kept as the Run's log Data.
Synchronous on purpose (``deferrable=False``): one worker slot per running Run, and no triggerer dependency.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.pod_manager import PodLaunchFailedException, PodLaunchTimeoutException
from airflow.sdk import Context
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from knit_provider.hooks.knit import KnitHook
from knit_provider.operators.links import KnitRunLink
from knit_provider.operators.run import KNIT_RUN_ID_TEMPLATE, KnitRunLifecycle
from knit_provider.runners.base import OutputSink
from knit_provider.runners.kubernetes.config import KubernetesSettings
from knit_provider.runners.kubernetes.names import label_safe
from knit_provider.runners.kubernetes.outcome import (
    EXIT_NOT_STARTED,
    EXIT_POD_LOST,
    error_text,
    launch_failure,
    program_exit,
    staged_outcome,
)
from knit_provider.runners.kubernetes.pod_spec import LABEL, PodPlan, build_pod
from knit_provider.service import plans
from knit_provider.service.context import Knit
from knit_provider.service.execution import Assignment, Ending, conclude, started, watching
from knit_provider.service.settings import KnitSettings
from knit_provider.version_compat import AIRFLOW_V_3_3_PLUS


class KnitPodOperator(KnitRunLifecycle, KubernetesPodOperator):
    """Runs a Knit Run's program in the Plan's image as a pod; a ``knit run stop`` deletes the pod.

    Cluster options left ``None`` here come from ``[knit] kubernetes_*`` when the task runs, so one
    ``airflow.cfg`` configures every Plan's DAG; pass them to override for one task.
    """

    template_fields = (*KubernetesPodOperator.template_fields, "knit_run_id")
    operator_extra_links = (KnitRunLink(),)
    ui_color = "#FFA500"

    def __init__(
        self,
        *,
        plan_id: str,
        knit_run_id: str = KNIT_RUN_ID_TEMPLATE,
        knit_conn_id: str = KnitHook.default_conn_name,
        kubernetes_conn_id: str | None = None,
        namespace: str | None = None,
        in_cluster: bool | None = None,
        config_file: str | None = None,
        startup_timeout_seconds: int | None = None,
        schedule_timeout_seconds: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 0)  # the Plan's retries (its DAG sets them); else `knit run retry`
        kwargs.setdefault("log_pod_spec_on_failure", False)  # the Run's message says what failed
        kwargs.setdefault("startup_check_interval_seconds", 1)
        kwargs["deferrable"] = False
        kwargs["get_logs"] = True
        kwargs["on_finish_action"] = "delete_pod"
        kwargs["do_xcom_push"] = False
        # A new attempt is a new Run attempt with fresh outputs: never reattach to an earlier attempt's pod.
        kwargs["durable" if AIRFLOW_V_3_3_PLUS else "reattach_on_restart"] = False
        super().__init__(
            kubernetes_conn_id=kubernetes_conn_id,
            namespace=namespace,
            in_cluster=in_cluster,
            config_file=config_file,
            startup_timeout_seconds=startup_timeout_seconds or 0,
            schedule_timeout_seconds=schedule_timeout_seconds,
            **kwargs,
        )
        self.plan_id = plan_id
        self.knit_run_id = knit_run_id
        self.knit_conn_id = knit_conn_id
        self._given = {
            "kubernetes_conn_id": kubernetes_conn_id,
            "namespace": namespace,
            "in_cluster": in_cluster,
            "config_file": config_file,
            "startup_timeout_seconds": startup_timeout_seconds,
            "schedule_timeout_seconds": schedule_timeout_seconds,
        }
        self._attempt: tuple[Knit, str] | None = None
        self._launch_failure: str | None = None
        self._stop_requested = False
        self._sink: OutputSink | None = None
        self._staged = False

    # ---- the Knit side ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        summary = KnitRunLifecycle.execute(self, context)
        context["ti"].xcom_push(key="return_value", value=summary)  # KPO's do_xcom_push means a sidecar
        return summary

    def run_program(self, knit: Knit, settings: KnitSettings, assignment: Assignment, context: Context) -> Ending:
        self._attempt = (knit, assignment.run_id)
        self.pod_request_obj = self.pod = self.remote_pod = None
        self._launch_failure, self._stop_requested = None, False
        with tempfile.TemporaryDirectory(prefix="knit-log-") as scratch:
            self._sink = OutputSink(assignment.log_path or Path(scratch) / "log", None)
            self.log_formatter = self._keep_line
            try:
                control = assignment.control.with_defaults(settings.default_control)
                with watching(knit, assignment.run_id, self._stop, heartbeat_timeout_s=settings.heartbeat_timeout_s,
                              timeout_s=control.timeout_s):  # fmt: skip
                    try:
                        self._prepare(knit, settings.kubernetes, assignment)
                        KubernetesPodOperator.execute(self, context)
                        error: BaseException | None = None
                    except Exception as exc:  # the pod's failure is the Run's; decided below from the pod itself
                        error = exc
                exit_code, message = self._outcome(error)
                if error is not None and exit_code in (EXIT_NOT_STARTED, EXIT_POD_LOST) and not self._launch_failure:
                    self.log.error("the pod did not run to its end", exc_info=error)
                if exit_code != 0 and message:
                    self._sink.note(message)
            finally:
                self._sink.close()
                self._sink = None
        self.log.info("program ended: exit %s %s", exit_code, message)
        return conclude(
            knit, assignment.run_id, exit_code=exit_code, message=message, retries_left=self.retries_left(context)
        )

    def _prepare(self, knit: Knit, kube: KubernetesSettings, assignment: Assignment) -> None:
        """The pod for KPO to create, and no pod of an earlier attempt left running."""
        self._configure(kube)
        self._staged = kube.pod.object_store  # the pod fetches and uploads its Data itself (``staging``)
        pod_plan = PodPlan.from_plan_json(plans.show(knit, assignment.plan_id))
        self.full_pod_spec = build_pod(assignment, pod_plan, kube.pod)
        self.base_container_name = kube.pod.container_name
        self._delete_leftover_pods(self.namespace, assignment.run_id)
        self.log.info("Knit Run %s: image %s as a pod in %s", assignment.run_id, assignment.image, self.namespace)

    def _configure(self, kube: KubernetesSettings) -> None:
        """Cluster options not given to the operator come from ``[knit]`` (before KPO's hook is first used)."""
        given = self._given
        self.kubernetes_conn_id = given["kubernetes_conn_id"] or kube.conn_id
        self.namespace = given["namespace"] or kube.pod.namespace
        self.in_cluster = given["in_cluster"] if given["in_cluster"] is not None else kube.in_cluster
        self.config_file = given["config_file"] or (None if self.in_cluster else kube.config_file)
        self.startup_timeout_seconds = given["startup_timeout_seconds"] or kube.startup_timeout_s
        self.schedule_timeout_seconds = given["schedule_timeout_seconds"] or kube.schedule_timeout_s

    def _keep_line(self, container: str, line: str) -> str:
        """KPO's log formatter: every line of the program also goes to the Run's log Data, as it comes."""
        line = line.removesuffix("\n")  # the stream's last line keeps its newline
        if self._sink is not None and container == self.base_container_name:
            self._sink.line(line.encode("utf-8", "replace"))
        return line

    def _outcome(self, error: BaseException | None) -> tuple[int, str]:
        if self._launch_failure is not None:
            return EXIT_NOT_STARTED, self._launch_failure
        ended = program_exit(self.remote_pod, self.base_container_name)
        staging = staged_outcome(self.remote_pod, ended) if self._staged else None
        if staging is not None:
            return staging
        if ended is not None:
            return ended
        if error is None:
            return 0, ""
        if self.pod is None:
            return EXIT_NOT_STARTED, f"the Run's pod could not be created: {error_text(error)}"
        name = self.pod.metadata.name
        if _is_not_found(error):
            return EXIT_POD_LOST, f"pod {name} vanished while the program ran (deleted or evicted); no exit code"
        return EXIT_POD_LOST, f"pod {name} ended without the program's exit code: {error_text(error)}"

    def post_complete_action(self, *, pod: k8s.V1Pod, remote_pod: k8s.V1Pod, **kwargs: Any) -> Any:
        """The pod as it ended, read once more before KPO deletes it: its stagers' ends are part of the Run's."""
        if self._staged and pod is not None:
            try:
                remote_pod = self.remote_pod = self.pod_manager.read_pod(pod)
            except Exception as err:  # gone already: the last state read stands
                self.log.warning("could not read pod %s at its end: %s", pod.metadata.name, err)
        return super().post_complete_action(pod=pod, remote_pod=remote_pod, **kwargs)

    def _stop(self) -> None:
        """``knit run stop``: delete the pod (its end then ends the task); a pod not created yet is deleted
        as soon as it is."""
        self._stop_requested = True
        if self.pod is not None:
            self._delete(self.pod)

    def _delete(self, pod: k8s.V1Pod) -> None:
        try:
            self.client.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
        except ApiException as err:
            if err.status != 404:
                self.log.warning("could not delete pod %s: %s", pod.metadata.name, err.reason)

    def _delete_leftover_pods(self, namespace: str, run_id: str) -> None:
        """Pods of an earlier attempt at this Run (its worker died) must not keep writing: delete them."""
        try:
            found = self.client.list_namespaced_pod(namespace, label_selector=f"{LABEL.RUN}={label_safe(run_id)}")
        except ApiException as err:
            self.log.warning("could not look for earlier pods of Run %s: %s", run_id, err.reason)
            return
        for pod in found.items:
            self.log.warning("deleting pod %s left by an earlier attempt at Run %s", pod.metadata.name, run_id)
            self._delete(pod)

    # ---- KubernetesPodOperator hooks ----------------------------------------------------------------------

    def await_pod_start(self, pod: k8s.V1Pod) -> None:
        """KPO's wait, bounded by the startup and schedule timeouts; on failure, the cluster's reason is kept."""
        if self._stop_requested:
            self._delete(pod)
        try:
            super().await_pod_start(pod)
        except (PodLaunchFailedException, PodLaunchTimeoutException) as exc:
            self._launch_failure = self._why_not_started(pod, exc)
            self.log.error("%s", self._launch_failure)
            raise
        if self._attempt is not None:
            started(*self._attempt)

    def _why_not_started(self, pod: k8s.V1Pod, exc: Exception) -> str:
        fallback = error_text(exc)
        try:
            remote = self.pod_manager.read_pod(pod)
            events = self.pod_manager.read_pod_events(pod).items or []
        except Exception as err:  # the pod may be gone already: say what we know
            self.log.warning("could not read pod %s for the failure's reason: %s", pod.metadata.name, err)
            remote, events = pod, []
        reason = launch_failure(remote, events, self.base_container_name, fallback)
        if isinstance(exc, PodLaunchTimeoutException):
            scheduled = any(
                c.type == "PodScheduled" and c.status == "True"
                for c in ((remote.status.conditions if remote.status is not None else None) or [])
            )
            timeout, option = (
                (self.startup_timeout_seconds, "startup") if scheduled else (self.schedule_timeout_seconds, "schedule")
            )
            reason += f" (gave up after {timeout}s: [knit] kubernetes_{option}_timeout)"
        return reason


def _is_not_found(error: BaseException) -> bool:
    """A 404 anywhere in the exception chain: the pod was gone when KPO looked."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ApiException) and current.status == 404:
            return True
        current = current.__cause__ or current.__context__
    return False
