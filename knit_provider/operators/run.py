"""``KnitRunOperator``: executes one Knit Run (its DagRun's conf names it) with the process or docker runner."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from knit_provider.core.errors import Conflict
from knit_provider.core.lifecycle import RunStatus
from knit_provider.hooks.knit import KnitHook
from knit_provider.operators.dispatch import start_dagruns
from knit_provider.operators.links import KnitRunLink, knit_run_id_of
from knit_provider.service.context import Knit
from knit_provider.service.execution import Assignment, Ending, claim_dispatchable, conclude, start_attempt, started
from knit_provider.service.execution import status_of as run_status

if TYPE_CHECKING:
    from knit_provider.runners.base import Runner, RunRequest

STOP_POLL_S = 1.0


def request_for(assignment: Assignment, log_path: Path) -> RunRequest:
    from knit_provider.runners.base import Mount, RunRequest

    mounts = [Mount(p.host_dir, p.path, read_only=True) for p in assignment.inputs]
    mounts += [Mount(p.host_dir, p.path, read_only=False) for p in assignment.outputs]
    return RunRequest(
        run_id=assignment.run_id,
        image=assignment.image,
        entrypoint=assignment.entrypoint,
        args=assignment.args,
        mounts=tuple(mounts),
        env=dict(assignment.env),
        log_path=log_path,
    )


class KnitRunOperator(BaseOperator):
    """Reports the lifecycle (starting, running, then completing/aborting and done/failed with the exit code and
    message), registers the outputs and the log Data, and starts the Runs the outputs cause at once.

    A failed Run fails the task, so Airflow shows it; clearing the task in Airflow's UI retries the Run.
    A ``knit run stop`` while the program runs kills it and records the stop.
    """

    template_fields = ("knit_run_id",)
    operator_extra_links = (KnitRunLink(),)
    ui_color = "#FFA500"

    def __init__(
        self,
        *,
        plan_id: str,
        knit_run_id: str = "{{ dag_run.conf.get('knit_run_id', '') if dag_run.conf else '' }}",
        knit_conn_id: str = KnitHook.default_conn_name,
        runner: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 0)  # a Knit retry is `knit run retry` (or clearing the task)
        super().__init__(**kwargs)
        self.plan_id = plan_id
        self.knit_run_id = knit_run_id
        self.knit_conn_id = knit_conn_id
        self.runner = runner
        self._runner: Runner | None = None
        self._run_id: str | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        run_id = self.knit_run_id or knit_run_id_of(context["dag_run"].run_id)
        if not run_id:
            raise AirflowFailException("this DagRun carries no Knit Run (conf 'knit_run_id'); start Runs with knit")
        self._run_id = run_id
        hook = KnitHook(self.knit_conn_id)
        settings = hook.settings
        with hook.get_conn() as knit:
            try:
                attempt = start_attempt(knit, run_id)
            except Conflict as err:
                raise AirflowFailException(str(err)) from None
            if attempt is None:
                raise AirflowSkipException(f"Knit Run {run_id} has nothing to do ({run_status(knit, run_id).value})")
            if isinstance(attempt, Assignment):
                from knit_provider.runners.base import make_runner  # imported at run time: DAG parsing stays light
                from knit_provider.runners.image_map import ImageMap

                self._runner = make_runner(
                    self.runner or settings.runner, image_map=ImageMap.load(list(settings.image_map))
                )
                ending = self._execute(knit, attempt)
            else:
                ending = attempt
            report = start_dagruns(
                knit,
                claim_dispatchable(knit, redispatch_after_s=settings.redispatch_after_s, run_ids=ending.created_runs),
            )
        summary = {
            "knit_run_id": run_id,
            "status": ending.status.value,
            "exit_code": ending.exit_code,
            "message": ending.message,
            "started_downstream": report.started,
        }
        if ending.status is not RunStatus.DONE:
            raise AirflowException(
                f"Knit Run {run_id} {ending.status.value}: exit {ending.exit_code}: {ending.message}"
            )
        return summary

    def _execute(self, knit: Knit, assignment: Assignment) -> Ending:
        assert self._runner is not None
        runner = self._runner
        finished = threading.Event()

        def watch_for_stop() -> None:
            while not finished.wait(STOP_POLL_S):
                if run_status(knit, assignment.run_id) in (RunStatus.COMPLETING, RunStatus.ABORTING):
                    self.log.warning("Knit Run %s was stopped: killing its program", assignment.run_id)
                    runner.kill(assignment.run_id)
                    return

        with tempfile.TemporaryDirectory(prefix="knit-log-") as scratch:
            log_path = assignment.log_path or Path(scratch) / "log"
            self.log.info("Knit Run %s: image %s, %s", assignment.run_id, assignment.image, type(runner).__name__)
            watcher = threading.Thread(target=watch_for_stop, name="knit-stop-watch", daemon=True)
            watcher.start()
            try:
                result = runner.run(
                    request_for(assignment, log_path),
                    on_start=lambda: started(knit, assignment.run_id),
                    on_line=lambda line: self.log.info("%s", line),
                )
            finally:
                finished.set()
        self.log.info("program ended: exit %s %s", result.exit_code, result.message)
        return conclude(knit, assignment.run_id, exit_code=result.exit_code, message=result.message)

    def on_kill(self) -> None:
        if self._runner is not None and self._run_id is not None:
            self._runner.kill(self._run_id)
