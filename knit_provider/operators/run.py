"""Executing one Knit Run (its DagRun's conf names it) as an Airflow task.

``KnitRunLifecycle`` is what every execution operator does around the program, whatever runs it: start the
attempt, report running, conclude with the exit code and message (outputs and the log Data registered), start
the Runs the outputs cause at once, and fail the task when the Run failed. ``KnitRunOperator`` runs the program
with the process or docker runner; ``KnitPodOperator`` (operators/pod.py) with the real KubernetesPodOperator.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from knit_provider.service.settings import KnitSettings

if TYPE_CHECKING:
    from knit_provider.runners.base import Runner, RunRequest

STOP_POLL_S = 1.0
#: The DagRun conf names the Run; a DagRun Knit started also names it in its run id (``knit__<run id>``).
KNIT_RUN_ID_TEMPLATE = "{{ dag_run.conf.get('knit_run_id', '') if dag_run.conf else '' }}"


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


@contextmanager
def stop_watch(knit: Knit, run_id: str, kill: Callable[[], None], log: Any) -> Iterator[None]:
    """While the body runs, a ``knit run stop`` (the Run turning completing/aborting) calls ``kill`` once."""
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(STOP_POLL_S):
            if run_status(knit, run_id) in (RunStatus.COMPLETING, RunStatus.ABORTING):
                log.warning("Knit Run %s was stopped: killing its program", run_id)
                kill()
                return

    watcher = threading.Thread(target=watch, name="knit-stop-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()


class KnitRunLifecycle:
    """Mixed into an operator (before its Airflow base class), which implements :meth:`run_program`.

    A failed Run fails the task, so Airflow shows it; clearing the task in Airflow's UI retries the Run.
    """

    plan_id: str
    knit_run_id: str
    knit_conn_id: str
    log: Any

    def execute(self, context: Context) -> dict[str, Any]:
        run_id = self.knit_run_id or knit_run_id_of(context["dag_run"].run_id)
        if not run_id:
            raise AirflowFailException("this DagRun carries no Knit Run (conf 'knit_run_id'); start Runs with knit")
        hook = KnitHook(self.knit_conn_id)
        settings = hook.settings
        with hook.get_conn() as knit:
            try:
                attempt = start_attempt(knit, run_id)
            except Conflict as err:
                raise AirflowFailException(str(err)) from None
            if attempt is None:
                raise AirflowSkipException(f"Knit Run {run_id} has nothing to do ({run_status(knit, run_id).value})")
            ending = self.run_program(knit, settings, attempt, context) if isinstance(attempt, Assignment) else attempt
            report = start_dagruns(
                knit,
                claim_dispatchable(knit, redispatch_after_s=settings.redispatch_after_s, run_ids=ending.created_runs),
                release_refused=True,
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

    def run_program(self, knit: Knit, settings: KnitSettings, assignment: Assignment, context: Context) -> Ending:
        """Run the Assignment's program; call ``started`` once it runs; return ``conclude(...)``'s Ending."""
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
        kwargs.setdefault("retries", 0)  # a Knit retry is `knit run retry` (or clearing the task)
        super().__init__(**kwargs)
        self.plan_id = plan_id
        self.knit_run_id = knit_run_id
        self.knit_conn_id = knit_conn_id
        self.runner = runner
        self._runner: Runner | None = None
        self._run_id: str | None = None

    def run_program(self, knit: Knit, settings: KnitSettings, assignment: Assignment, context: Context) -> Ending:
        from knit_provider.runners.base import make_runner  # imported at run time: DAG parsing stays light
        from knit_provider.runners.image_map import ImageMap

        runner = make_runner(self.runner or settings.runner, image_map=ImageMap.load(list(settings.image_map)))
        self._runner, self._run_id = runner, assignment.run_id
        with tempfile.TemporaryDirectory(prefix="knit-log-") as scratch:
            log_path = assignment.log_path or Path(scratch) / "log"
            self.log.info("Knit Run %s: image %s, %s", assignment.run_id, assignment.image, type(runner).__name__)
            with stop_watch(knit, assignment.run_id, lambda: runner.kill(assignment.run_id), self.log):
                result = runner.run(
                    request_for(assignment, log_path),
                    on_start=lambda: started(knit, assignment.run_id),
                    on_line=lambda line: self.log.info("%s", line),
                )
        self.log.info("program ended: exit %s %s", result.exit_code, result.message)
        return conclude(knit, assignment.run_id, exit_code=result.exit_code, message=result.message)

    def on_kill(self) -> None:
        if self._runner is not None and self._run_id is not None:
            self._runner.kill(self._run_id)
