"""Start and inspect DagRuns from inside a running task, through the Task SDK's supervisor channel.

Airflow 3 forbids task code the metadata database; the supported route is the supervisor, which relays to
the execution API. ``TriggerDagRunOperator`` uses the same message, but only once per task: the generator
starts many DagRuns in one pass, so it sends the message itself. Kept in one small module because it touches
Task SDK internals (``airflow.sdk.execution_time``). Used by the generator's sensor (every Run due) and by a Run's
task (``TaskDispatcher``: the Runs its outputs cause, at once), side by side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from enum import StrEnum

from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType

from knit_provider.core.airflow_names import Dispatch
from knit_provider.hooks.knit import airflow_base_path
from knit_provider.service.context import Knit
from knit_provider.service.reconciliation import ALIVE
from knit_provider.service.starting import DispatchReport, start_now
from knit_provider.version_compat import TRIGGER_DAG_RUN_NOTE

#: What a refused TriggerDagRun raises (typically a 404: the Plan's DAG is not parsed yet).
REFUSALS = (AirflowRuntimeError,)


class Outcome(StrEnum):
    CREATED = "created"
    EXISTS = "exists"


def _comms():
    from airflow.sdk.execution_time import task_runner

    return task_runner.SUPERVISOR_COMMS


def _status_code(err: AirflowRuntimeError) -> int | None:
    detail = getattr(err.error, "detail", None)
    return detail.get("status_code") if isinstance(detail, dict) else None


def trigger(dag_id: str, run_id: str, *, conf: dict, note: str | None = None, reset: bool = False) -> Outcome:
    """Create DagRun ``run_id`` of ``dag_id`` (or, with ``reset``, clear an existing one to run again).

    Raises ``AirflowRuntimeError`` when the API refuses, e.g. 404 for a DAG not parsed yet. The ``note`` is
    dropped on Airflow 3.1, whose Task SDK cannot set one.
    """
    from airflow.sdk.execution_time.comms import ErrorResponse, TriggerDagRun

    noted = {"note": note} if TRIGGER_DAG_RUN_NOTE else {}
    reply = _comms().send(TriggerDagRun(dag_id=dag_id, run_id=run_id, conf=conf, reset_dag_run=reset, **noted))
    if isinstance(reply, ErrorResponse):
        if reply.error == ErrorType.DAGRUN_ALREADY_EXISTS:
            return Outcome.EXISTS
        raise AirflowRuntimeError(error=reply)
    return Outcome.CREATED


def state(dag_id: str, run_id: str) -> str | None:
    """Airflow's state of a DagRun ("queued", "running", "success", "failed"), None if it does not exist."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    try:
        value = RuntimeTaskInstance.get_dagrun_state(dag_id, run_id)
        return str(getattr(value, "value", value))
    except AirflowRuntimeError as err:
        if _status_code(err) == 404:
            return None
        raise


def dispatch_state(dispatch: Dispatch) -> str | None:
    """Airflow's state of the DagRun carrying a Run (what reconciliation compares the catalog against)."""
    return state(dispatch.dag_id, dispatch.dagrun_id)


#: run ids per count question (they travel in its query string: about 50 bytes each)
COUNT_BATCH = 64


def dispatch_states(dispatches: Sequence[Dispatch]) -> dict[str, str | None]:
    """The states of the DagRuns carrying these Runs, by run id, in few questions: per DAG and batch of run ids,
    how many of their DagRuns are queued or running. All of them (the usual answer) are "running" here; in a batch
    where some are not, each DagRun's own state is asked. A pass holding 500 Runs asks about 8 questions, not 500."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    by_dag: dict[str, list[Dispatch]] = defaultdict(list)
    for dispatch in dispatches:
        by_dag[dispatch.dag_id].append(dispatch)
    states: dict[str, str | None] = {}
    for dag_id, held in by_dag.items():
        for at in range(0, len(held), COUNT_BATCH):
            batch = held[at : at + COUNT_BATCH]
            alive = RuntimeTaskInstance.get_dr_count(
                dag_id=dag_id, run_ids=[d.dagrun_id for d in batch], states=list(ALIVE)
            )
            if alive == len(batch):
                states.update((d.run_id, "running") for d in batch)  # queued or running: alive either way
            else:
                states.update((d.run_id, dispatch_state(d)) for d in batch)
    return states


def start_dagrun(dispatch: Dispatch, still_waiting: Callable[[], bool]) -> None:
    """Create the Run's DagRun; a finished DagRun of a retried Run (waiting again) is cleared to run again, never
    one that a stale claim finds already run by another dispatcher."""
    outcome = trigger(
        dispatch.dag_id, dispatch.dagrun_id, conf=dispatch.conf, note=dispatch.note_at(airflow_base_path())
    )
    finished = outcome is Outcome.EXISTS and dispatch_state(dispatch) in ("success", "failed")
    if finished and still_waiting():
        trigger(dispatch.dag_id, dispatch.dagrun_id, conf=dispatch.conf, reset=True)


class TaskDispatcher:
    """A Run's task starts the Runs its outputs cause through the Task SDK (no HTTP, no credentials needed)."""

    def __init__(self, *, redispatch_after_s: float) -> None:
        self.redispatch_after_s = redispatch_after_s
        self.report = DispatchReport()

    def runs_waiting(self, knit: Knit, run_ids: Sequence[str]) -> None:
        report = start_now(knit, run_ids, start_dagrun, refusals=REFUSALS, redispatch_after_s=self.redispatch_after_s)
        self.report.started += report.started
        self.report.deferred.update(report.deferred)
