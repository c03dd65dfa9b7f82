"""What executors need of the catalog: the pending-work counts, dispatch claims, the Runs executors hold, and the
heartbeat of a Run's task.

A dispatch claim is a stamp (``dispatched_at``) on a waiting Run: concurrent dispatchers skip each other's fresh
claims, and a claim whose dispatch failed becomes due again ``redispatch_after_s`` later. A held Run's heartbeat
(``heartbeat_at``) is stamped by its task while the program runs, so a Run whose worker died is seen at once,
without waiting for Airflow to notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Row, case, func, or_, select, update

from knit_provider.catalog.models import UPLOAD_PLAN_ID, plans_t, runs_t
from knit_provider.core.lifecycle import LIVE, RunStatus

S = RunStatus
#: Statuses an executor holds (or should hold): the ones reconciliation checks against the executor.
HELD = frozenset(LIVE - {S.WAITING, S.DEACTIVATED})


@dataclass(frozen=True)
class PendingWork:
    """Counts behind a wake-up: Runs to dispatch now, and Runs an executor holds (to reconcile)."""

    dispatchable: int = 0
    held: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"dispatchable": self.dispatchable, "held": self.held}


@dataclass(frozen=True)
class HeldRun:
    """A Run an executor holds, with what reconciliation needs: its Plan (the DAG) and its task's last heartbeat."""

    run_id: str
    plan_id: str
    image: str | None
    status: RunStatus
    heartbeat_at: int | None
    attempt_started_at: int | None
    run_control: dict | None  # the Plan's (catalog.plans.control_of reads it)
    updated_at: int = 0  # when its status last changed


def _due(now: int, redispatch_after_s: float):
    """Never dispatched, or last tried long enough ago to try again (a waiting Run's dispatch stamp)."""
    cutoff = now - int(redispatch_after_s * 1000)
    return or_(runs_t.c.dispatched_at.is_(None), runs_t.c.dispatched_at <= cutoff)


def pending_work(conn: Connection, *, now: int, redispatch_after_s: float) -> PendingWork:
    """One query over the status index: live Runs grouped by status, with how many waiting ones are due."""
    due = func.sum(case((_due(now, redispatch_after_s), 1), else_=0))
    query = (
        select(runs_t.c.status, func.count(), due)
        .where(runs_t.c.status.in_([s.value for s in HELD | {S.WAITING}]))
        .group_by(runs_t.c.status)
    )
    dispatchable = held = 0
    for status, count, n_due in conn.execute(query):
        if status == S.WAITING.value:
            dispatchable = int(n_due or 0)
        else:
            held += int(count)
    return PendingWork(dispatchable=dispatchable, held=held)


#: Runs with what a dispatch needs: the Plan's image names its DAG.
_WITH_PLAN = select(runs_t.c.run_id, runs_t.c.plan_id, plans_t.c.image).join(
    plans_t, plans_t.c.plan_id == runs_t.c.plan_id
)


def claim(
    conn: Connection,
    *,
    now: int,
    redispatch_after_s: float,
    run_ids: Sequence[str] | None = None,
    limit: int = 500,
    unless_in_flight: bool = False,
) -> list[Row]:
    """Stamp and return (run id, plan id, image) of the waiting Runs due for dispatch (all, or those of
    ``run_ids``), oldest first. With ``unless_in_flight``, nothing while another claim is in flight (a waiting Run
    claimed less than ``redispatch_after_s`` ago). Call it in a write transaction: check and claim are one step."""
    if run_ids is not None and not run_ids:
        return []
    query = (
        _WITH_PLAN.where(runs_t.c.status == S.WAITING.value, runs_t.c.plan_id != UPLOAD_PLAN_ID)
        .where(_due(now, redispatch_after_s))
        .order_by(runs_t.c.created_at, runs_t.c.run_id)
        .limit(limit)
    )
    if run_ids is not None:
        query = query.where(runs_t.c.run_id.in_(list(run_ids)))
    if unless_in_flight:
        in_flight = select(runs_t.c.run_id).where(runs_t.c.status == S.WAITING.value, ~_due(now, redispatch_after_s))
        if conn.execute(in_flight.limit(1)).first() is not None:
            return []
    rows = conn.execute(query).all()
    if rows:
        conn.execute(update(runs_t).where(runs_t.c.run_id.in_([r.run_id for r in rows])).values(dispatched_at=now))
    return rows


def release(conn: Connection, run_id: str) -> None:
    """Forget a claim whose dispatch failed, so the generator's next pass takes the Run without waiting."""
    conn.execute(
        update(runs_t).where(runs_t.c.run_id == run_id, runs_t.c.status == S.WAITING.value).values(dispatched_at=None)
    )


def held_runs(conn: Connection) -> list[HeldRun]:
    """Runs an executor holds, least recently updated first."""
    query = (
        select(
            runs_t.c.run_id, runs_t.c.plan_id, plans_t.c.image, runs_t.c.status, runs_t.c.heartbeat_at,
            runs_t.c.attempt_started_at, plans_t.c.run_control, runs_t.c.updated_at,
        )
        .join(plans_t, plans_t.c.plan_id == runs_t.c.plan_id)
        .where(runs_t.c.status.in_([s.value for s in HELD]))
        .order_by(runs_t.c.updated_at)
    )  # fmt: skip
    return [
        HeldRun(r.run_id, r.plan_id, r.image, RunStatus(r.status), r.heartbeat_at, r.attempt_started_at,
                r.run_control, r.updated_at)
        for r in conn.execute(query)
    ]  # fmt: skip


def beat(conn: Connection, run_id: str, now: int) -> RunStatus | None:
    """Stamp a held Run's heartbeat; its status (None if gone), so the beating task learns of a stop."""
    conn.execute(
        update(runs_t)
        .where(runs_t.c.run_id == run_id, runs_t.c.status.in_([s.value for s in HELD]))
        .values(heartbeat_at=now)
    )
    status = conn.execute(select(runs_t.c.status).where(runs_t.c.run_id == run_id)).scalar()
    return RunStatus(status) if status is not None else None
