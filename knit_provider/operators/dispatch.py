"""Turning claimed Runs into DagRuns of their Plans' DAGs from inside Airflow (the task SDK's TriggerDagRun)."""

from __future__ import annotations

from collections.abc import Callable

from airflow.sdk.exceptions import AirflowRuntimeError

from knit_provider.hooks import dagruns
from knit_provider.service.context import Knit
from knit_provider.service.execution import Dispatch
from knit_provider.service.starting import DispatchReport, note_for, start_claimed


def start_dagrun(dispatch: Dispatch, still_waiting: Callable[[], bool]) -> None:
    """Create the Run's DagRun; a finished DagRun of a retried Run (waiting again) is cleared to run again, never
    one that a stale claim finds already run by another dispatcher."""
    outcome = dagruns.trigger(dispatch.dag_id, dispatch.dagrun_id, conf=dispatch.conf, note=note_for(dispatch))
    finished = outcome is dagruns.Outcome.EXISTS and dagruns.state(dispatch.dag_id, dispatch.dagrun_id) in (
        "success",
        "failed",
    )
    if finished and still_waiting():
        dagruns.trigger(dispatch.dag_id, dispatch.dagrun_id, conf=dispatch.conf, reset=True)


def start_dagruns(knit: Knit, dispatches: list[Dispatch], *, release_refused: bool = False) -> DispatchReport:
    """A refusal (typically: the Plan's DAG is not parsed yet) leaves the Run waiting; the generator keeps its
    claim (so it does not spin), other callers release it to the generator."""
    return start_claimed(
        knit, dispatches, start_dagrun, refusals=(AirflowRuntimeError,), release_refused=release_refused
    )
