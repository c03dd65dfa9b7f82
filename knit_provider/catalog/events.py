"""The journal of Run status changes (beyond Knitfab), written in the very transaction that changes a status.

Every status change a Run makes through ``catalog.runs`` (a transition by the lifecycle table, a retry, an
automatic next attempt, a removal) leaves one row: the Run's JSON as ``knit run show`` prints it just after the
change, and what differed just before. The lifecycle hooks (Knitfab's payload is exactly that JSON) and Airflow's
listeners are fed from here, so a crash between a change and its notification loses nothing: whoever consumes the
journal next (``service.lifecycle_hooks``) finds it. Consumed rows are deleted: the journal is a queue, not a
history. (Runs created by projection, and the bulk waiting <-> deactivated flips of a Plan's activation, are not
changes of one Run's life and are not journaled.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from knit_provider.catalog.models import run_events_t
from knit_provider.catalog.views import run_details
from knit_provider.core.timefmt import format_ms


@dataclass(frozen=True)
class RunEvent:
    event_id: int
    run_id: str
    attempt: int
    from_status: str
    to_status: str
    at: int
    run: dict[str, Any]  # the Run's JSON just after the change
    previous: dict[str, Any]  # keys whose value differed just before it (None: the key was absent)

    @property
    def run_before(self) -> dict[str, Any]:
        """The Run's JSON just before the change (Knitfab's payload for a "before" hook)."""
        before = dict(self.run)
        for key, value in self.previous.items():
            if value is None:
                before.pop(key, None)
            else:
                before[key] = value
        return before


def previous_of(row: dict) -> dict[str, Any]:
    """What a status change alters in the Run's JSON, as it was before (from the Run's catalog row)."""
    exit_ = {"code": row["exit_code"], "message": row["exit_message"] or ""} if row["exit_code"] is not None else None
    return {"status": row["status"], "updatedAt": format_ms(row["updated_at"]), "exit": exit_}


def snapshot(conn: Connection, run_id: str) -> dict[str, Any]:
    """The Run's JSON now (to pass as ``record``'s ``before`` when a change alters more than the status)."""
    (run,) = run_details(conn, [run_id])
    return run


def record(conn: Connection, run_id: str, before: dict[str, Any], *, now: int) -> None:
    """Journal the change the caller has just made to ``run_id``. ``before``: ``previous_of`` the row read before
    (a change of status and exit only), or a whole ``snapshot`` taken before (a change of outputs too)."""
    run = snapshot(conn, run_id)
    if "runId" in before:  # a whole snapshot: keep what differs
        previous = {k: before.get(k) for k in before.keys() | run.keys() if before.get(k) != run.get(k)}
    else:
        previous = before
    conn.execute(
        insert(run_events_t).values(
            run_id=run_id,
            attempt=run.get("attempt", 1),
            from_status=before["status"],
            to_status=run["status"],
            at=now,
            run=run,
            previous=previous,
        )
    )


def _event(row: Any) -> RunEvent:
    return RunEvent(
        event_id=row.event_id,
        run_id=row.run_id,
        attempt=row.attempt,
        from_status=row.from_status,
        to_status=row.to_status,
        at=row.at,
        run=dict(row.run),
        previous=dict(row.previous),
    )


def pending(
    conn: Connection, *, run_id: str | None = None, older_than: int | None = None, limit: int = 500
) -> list[RunEvent]:
    """Unconsumed events, oldest first: all, one Run's, or those recorded before ``older_than`` (ms)."""
    query = select(run_events_t).order_by(run_events_t.c.event_id).limit(limit)
    if run_id is not None:
        query = query.where(run_events_t.c.run_id == run_id)
    if older_than is not None:
        query = query.where(run_events_t.c.at < older_than)
    return [_event(row) for row in conn.execute(query)]


def count_older_than(conn: Connection, cutoff: int) -> int:
    return int(conn.execute(select(func.count()).where(run_events_t.c.at < cutoff)).scalar() or 0)


def forget(conn: Connection, event_ids: list[int]) -> None:
    """Delete consumed events."""
    if event_ids:
        conn.execute(delete(run_events_t).where(run_events_t.c.event_id.in_(event_ids)))
