"""What is pending, and the bookkeeping of handing waiting Runs to an executor (claims, started, released).

The catalog, never an event, records pending work: a Run is ``waiting`` until some executor has started it,
whatever happened to the wake-up that announced it. Starting itself is ``service.starting``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from knit_provider.catalog import dispatch as catalog_dispatch
from knit_provider.catalog import runs as catalog_runs
from knit_provider.catalog.dispatch import PendingWork
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.core.airflow_names import Dispatch, plan_dag_id
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.timefmt import now_ms
from knit_provider.service.context import Knit

__all__ = ["PendingWork", "claim_dispatchable", "mark_dispatched", "pending_work", "release_claim", "status_of"]


def pending_work(knit: Knit, *, redispatch_after_s: float) -> PendingWork:
    """Runs due for dispatch and Runs held by executors: the trigger's one cheap query."""
    with read_tx(knit.engine) as conn:
        return catalog_dispatch.pending_work(conn, now=now_ms(), redispatch_after_s=redispatch_after_s)


def claim_dispatchable(
    knit: Knit,
    *,
    redispatch_after_s: float,
    run_ids: Sequence[str] | None = None,
    limit: int = 500,
    unless_in_flight: bool = False,
) -> list[Dispatch]:
    """Claim the waiting Runs due for dispatch (all, or those of ``run_ids``), oldest first.

    The claim makes concurrent dispatchers skip each other; a Run whose dispatch failed becomes due again
    ``redispatch_after_s`` later. Starting twice is harmless anyway (DagRun ids are unique). With
    ``unless_in_flight``, nothing is claimed while another claim is in flight: checked and claimed in one
    serialized transaction, so push-time starts never run two at a time, whatever number of processes write.
    """
    with write_tx(knit.engine) as conn:
        rows = catalog_dispatch.claim(
            conn,
            now=now_ms(),
            redispatch_after_s=redispatch_after_s,
            run_ids=run_ids,
            limit=limit,
            unless_in_flight=unless_in_flight,
        )
    return [Dispatch(run_id=r.run_id, plan_id=r.plan_id, dag_id=plan_dag_id(r.image, r.plan_id)) for r in rows]


def release_claim(knit: Knit, run_id: str) -> None:
    """Forget a claim whose dispatch failed, so the generator's next pass takes the Run without waiting."""
    with write_tx(knit.engine) as conn:
        catalog_dispatch.release(conn, run_id)


def status_of(knit: Knit, run_id: str) -> RunStatus:
    with read_tx(knit.engine) as conn:
        return RunStatus(catalog_runs.require_run(conn, run_id)["status"])


def mark_dispatched(knit: Knit, run_id: str) -> bool:
    """waiting -> ready once its DagRun exists; False if the Run already moved on (its task was quicker)."""
    with write_tx(knit.engine) as conn:
        if RunStatus(catalog_runs.require_run(conn, run_id)["status"]) is not RunStatus.WAITING:
            return False
        catalog_runs.transition(conn, run_id, RunStatus.READY)
        return True
