"""Start and inspect DagRuns from inside a running task, through the Task SDK's supervisor channel.

Airflow 3 forbids task code the metadata database; the supported route is the supervisor, which relays to
the execution API. ``TriggerDagRunOperator`` uses the same message, but only once per task: the generator
starts many DagRuns in one pass, so it sends the message itself. Kept in one small module because it touches
Task SDK internals (``airflow.sdk.execution_time``).
"""

from __future__ import annotations

from enum import StrEnum

from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType

from knit_provider.service.execution import Dispatch


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

    Raises ``AirflowRuntimeError`` when the API refuses, e.g. 404 for a DAG not parsed yet.
    """
    from airflow.sdk.execution_time.comms import ErrorResponse, TriggerDagRun

    reply = _comms().send(TriggerDagRun(dag_id=dag_id, run_id=run_id, conf=conf, note=note, reset_dag_run=reset))
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
