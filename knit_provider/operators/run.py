"""Executing one Knit Run (its DagRun's conf names it) as an Airflow task.

``KnitRunLifecycle`` is what every execution operator does around the program, whatever runs it: start the
attempt, run the program (``run_program``, which reports running, keeps the heartbeat, honours a stop and
concludes with the exit), start the Runs the outputs cause at once (the Task SDK dispatcher), and fail the task
when the Run failed. ``KnitRunOperator`` runs the program with the process or docker runner
(``service.execution.run_program``); ``KnitPodOperator`` (operators/pod.py) with the real KubernetesPodOperator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator, Context
from airflow.sdk.exceptions import AirflowException

from knit_provider.core.airflow_names import run_id_of_dagrun
from knit_provider.core.errors import Conflict
from knit_provider.core.lifecycle import RunStatus
from knit_provider.hooks.dagruns import TaskDispatcher
from knit_provider.hooks.knit import KnitHook, data_page_url_maker
from knit_provider.listeners.publish import publish
from knit_provider.operators.lineage import KnitRunLineage
from knit_provider.operators.links import KnitRunLink
from knit_provider.service import assets
from knit_provider.service.assets import AssetSpec
from knit_provider.service.context import Knit
from knit_provider.service.dispatching import status_of
from knit_provider.service.execution import Assignment, Ending, run_program, start_attempt
from knit_provider.service.lifecycle_hooks import after_run
from knit_provider.service.settings import KnitSettings
from knit_provider.version_compat import AirflowFailException, AirflowSkipException

if TYPE_CHECKING:
    from knit_provider.runners.base import Runner

#: The DagRun conf names the Run; a DagRun Knit started also names it in its run id (``knit__<run id>``).
KNIT_RUN_ID_TEMPLATE = "{{ dag_run.conf.get('knit_run_id', '') if dag_run.conf else '' }}"


class KnitRunLifecycle(KnitRunLineage):
    """Mixed into an operator (before its Airflow base class), which implements :meth:`run_program`. Its lineage
    goes to OpenLineage when Airflow's OpenLineage provider is installed (``operators.lineage``).

    A failed Run fails the task, so Airflow shows it; clearing the task in Airflow's UI retries the Run. The Plan's
    retries are the task's: a failed attempt with retries left raises for Airflow to retry it; a Run that failed for
    good (no retries left, or a user's ``knit run stop --fail``) fails the task without a retry, which would start
    the Run over.
    """

    plan_id: str
    knit_run_id: str
    knit_conn_id: str
    retries: int
    log: Any
    #: the Knit settings the DAG file's parse read in this process (``dags.factory``): a Run's task parses its DAG
    #: first, so its connection is read once, not twice
    parsed_settings: KnitSettings | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        # The Plan DAG's outlets (KnitAssets) draw Airflow's asset graph; the task emits only the events of its own
        # outputs, one per watched KnitAsset with its knit id (``emit_asset_events``), never a bare one per outlet.
        self.outlets = []
        run_id = self.knit_run_id or run_id_of_dagrun(context["dag_run"].run_id)
        if not run_id:
            raise AirflowFailException("this DagRun carries no Knit Run (conf 'knit_run_id'); start Runs with knit")
        hook = KnitHook.resolved(self.knit_conn_id, self.parsed_settings)
        settings = hook.settings
        downstream = TaskDispatcher(redispatch_after_s=settings.redispatch_after_s)
        with hook.get_conn() as knit:
            knit.dispatcher = downstream  # the Runs this Run's outputs cause start at once
            knit.outlet_claims = []  # and the KnitAsset events of its outputs go with the task's success
            try:
                try:
                    attempt = start_attempt(knit, run_id, hooks=settings.hooks)
                except Conflict as err:
                    raise AirflowFailException(str(err)) from None
                if attempt is None:
                    status = status_of(knit, run_id).value
                    raise AirflowSkipException(f"Knit Run {run_id} has nothing to do ({status})")
                ending = (
                    self.run_program(knit, settings, attempt, context) if isinstance(attempt, Assignment) else attempt
                )
            finally:  # the Run's status changes go to its lifecycle hooks and listeners now, whatever happened
                after_run(knit, settings.hooks, run_id, publish=publish)
            if ending.status is RunStatus.DONE and knit.outlet_claims:
                try:
                    events = assets.task_outlet_events(knit, knit.outlet_claims, data_page_url_maker())
                except Exception:  # the Run is done: its claims, never sent, go to the watchers after settlement
                    self.log.exception("the asset events of the outputs are left to the KnitAssets' watchers")
                    events = []
                self.emit_asset_events(context, events)
        summary = {
            "knit_run_id": run_id,
            "status": ending.status.value,
            "exit_code": ending.exit_code,
            "message": ending.message,
            "started_downstream": downstream.report.started,
        }
        if ending.retrying:  # Airflow retries the task: the next attempt of the Run, with fresh outputs
            raise AirflowException(
                f"Knit Run {run_id}: attempt failed: exit {ending.exit_code}: {ending.message}; it will be retried"
            )
        if ending.status is not RunStatus.DONE:  # Knit decided: no retry of its task may start the Run over
            raise AirflowFailException(
                f"Knit Run {run_id} {ending.status.value}: exit {ending.exit_code}: {ending.message}"
            )
        return summary

    def emit_asset_events(self, context: Context, events: list[tuple[AssetSpec, dict]]) -> None:
        """Hand the KnitAsset events of this Run's outputs to Airflow as the task's outlet events: registered as the
        task succeeds, so a DAG scheduled on the KnitAsset starts as soon as one on a plain Asset would. Each event's
        extra carries the Data under ``payload``, as a watcher's does. Were the task to die before Airflow got them,
        the triggerer's settlement queues them for the assets' watchers again (``service.assets``)."""
        outlets = []
        for spec, extra in events:
            asset = Asset(name=spec.name, uri=spec.uri, group="knit")  # the KnitAsset's name and URI
            context["outlet_events"][asset].extra = {"payload": extra}
            outlets.append(asset)
        self.outlets = outlets
        if outlets:
            self.log.info(
                "asset events of the outputs: %s", ", ".join(f"{e['knit_id']} on {s.name}" for s, e in events)
            )

    def retries_left(self, context: Context) -> int:
        """Attempts Airflow will still make after this one (the task's retries are the Plan's, set by its DAG)."""
        try_number = getattr(context.get("ti"), "try_number", 1) or 1
        return max(0, (self.retries or 0) - (try_number - 1))

    def run_program(self, knit: Knit, settings: KnitSettings, assignment: Assignment, context: Context) -> Ending:
        """Run the Assignment's program and return ``conclude(...)``'s Ending (``service.execution``), honouring
        the Plan's timeout and passing ``retries_left`` so a failed attempt with retries left is not final."""
        raise NotImplementedError


class KnitRunOperator(KnitRunLifecycle, BaseOperator):
    """Runs the program with the process (bubblewrap) or docker runner; a ``knit run stop`` kills it."""

    template_fields = ("knit_run_id",)
    operator_extra_links = (KnitRunLink(),)
    ui_color = "#FFA500"

    def __init__(
        self,
        *,
        plan_id: str,
        knit_run_id: str = KNIT_RUN_ID_TEMPLATE,
        knit_conn_id: str = KnitHook.default_conn_name,
        runner: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 0)  # the Plan's retries (its DAG sets them); else `knit run retry`
        super().__init__(**kwargs)
        self.plan_id = plan_id
        self.knit_run_id = knit_run_id
        self.knit_conn_id = knit_conn_id
        self.runner = runner
        self._running: tuple[Runner, str] | None = None

    def run_program(self, knit: Knit, settings: KnitSettings, assignment: Assignment, context: Context) -> Ending:
        from knit_provider.runners.base import make_runner  # imported at run time: DAG parsing stays light
        from knit_provider.runners.image_map import ImageMap

        kind = self.runner or settings.runner
        image_map = ImageMap.load(list(settings.image_map))
        runner = make_runner(kind, image_map=image_map, **settings.runner_options(kind))
        self._running = (runner, assignment.run_id)
        self.log.info("Knit Run %s: image %s, %s", assignment.run_id, assignment.image, type(runner).__name__)
        ending = run_program(
            knit,
            assignment,
            runner,
            heartbeat_timeout_s=settings.heartbeat_timeout_s,
            control=assignment.control.with_defaults(settings.default_control),
            retries_left=self.retries_left(context),
            on_line=lambda line: self.log.info("%s", line),
        )
        self.log.info("program ended: exit %s %s", ending.exit_code, ending.message)
        return ending

    def on_kill(self) -> None:
        if self._running is not None:
            runner, run_id = self._running
            runner.kill(run_id)
