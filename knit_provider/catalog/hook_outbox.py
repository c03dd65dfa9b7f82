"""The outbox of lifecycle hook calls (beyond Knitfab): one row per call of one URL, kept until delivered or expired.

Order: the calls of one Run to one URL go out one at a time in ``delivery_id`` order (the head is the oldest one
still pending; the rest wait behind it, whatever its backoff). A deliverer claims a head for a lease before calling
(so two deliverers rarely call twice; a deliverer that dies lets the lease run out and the call is made again:
at-least-once). Writers are serialized (``write_tx``), so a check and the write after it are one step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import aliased

from knit_provider.catalog.models import hook_deliveries_t

T = hook_deliveries_t
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATES = (PENDING, DELIVERED, FAILED)


@dataclass(frozen=True)
class Call:
    """A hook call to record: which transition, which phase, where, with which payload."""

    run_id: str
    attempt: int
    from_status: str
    to_status: str
    phase: str
    url: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    delivery_id: int
    run_id: str
    attempt: int
    from_status: str
    to_status: str
    phase: str
    url: str
    payload: dict[str, Any]
    state: str
    created_at: int
    tries: int
    next_try_at: int
    last_error: str | None
    ended_at: int | None


def _delivery(row: Any) -> Delivery:
    return Delivery(
        delivery_id=row.delivery_id, run_id=row.run_id, attempt=row.attempt, from_status=row.from_status,
        to_status=row.to_status, phase=row.phase, url=row.url, payload=dict(row.payload), state=row.state,
        created_at=row.created_at, tries=row.tries, next_try_at=row.next_try_at, last_error=row.last_error,
        ended_at=row.ended_at,
    )  # fmt: skip


def _key(call: Call | Delivery) -> tuple:
    return (call.run_id, call.attempt, call.to_status, call.phase, call.url)


def recorded(conn: Connection, calls: Sequence[Call]) -> set[tuple]:
    """The keys of ``calls`` already in the outbox (any state)."""
    found: set[tuple] = set()
    for run_id in {c.run_id for c in calls}:
        for row in conn.execute(select(T).where(T.c.run_id == run_id)):
            found.add((row.run_id, row.attempt, row.to_status, row.phase, row.url))
    return found


def enqueue(
    conn: Connection, calls: Sequence[Call], *, now: int, state: str = PENDING, tries: int = 0,
    next_try_at: int | None = None, last_error: str | None = None,
) -> list[int]:  # fmt: skip
    """Record calls in order, skipping those already recorded; returns the new rows' ids."""
    known = recorded(conn, calls)
    rows = [
        {
            "run_id": c.run_id,
            "attempt": c.attempt,
            "from_status": c.from_status,
            "to_status": c.to_status,
            "phase": c.phase,
            "url": c.url,
            "payload": c.payload,
            "state": state,
            "created_at": now,
            "tries": tries,
            "next_try_at": now if next_try_at is None else next_try_at,
            "last_error": last_error,
            "ended_at": now if state != PENDING else None,
        }  # fmt: skip
        for c in calls
        if _key(c) not in known
    ]
    # one by one: ids follow the order given
    return [conn.execute(insert(T).values(**row).returning(T.c.delivery_id)).scalar_one() for row in rows]


def release(conn: Connection, delivery_ids: Sequence[int]) -> None:
    """Give back claims not used (the call was not made): due again at once."""
    if delivery_ids:
        conn.execute(update(T).where(T.c.delivery_id.in_(list(delivery_ids))).values(claimed_until=None))


def _earlier_pending():
    earlier = aliased(T)
    return (
        select(earlier.c.delivery_id)
        .where(
            earlier.c.run_id == T.c.run_id,
            earlier.c.url == T.c.url,
            earlier.c.state == PENDING,
            earlier.c.delivery_id < T.c.delivery_id,
        )
        .exists()
    )


def _due(now: int):
    return and_(T.c.state == PENDING, T.c.next_try_at <= now, or_(T.c.claimed_until.is_(None), T.c.claimed_until < now))


def claim_heads(
    conn: Connection, *, now: int, lease_ms: int, run_id: str | None = None, limit: int = 100
) -> list[Delivery]:
    """Claim (for ``lease_ms``) the due calls that are the oldest pending of their Run and URL."""
    query = select(T).where(_due(now), ~_earlier_pending()).order_by(T.c.delivery_id).limit(limit)
    if run_id is not None:
        query = query.where(T.c.run_id == run_id)
    heads = [_delivery(row) for row in conn.execute(query)]
    if heads:
        ids = [d.delivery_id for d in heads]
        conn.execute(update(T).where(T.c.delivery_id.in_(ids)).values(claimed_until=now + lease_ms))
    return heads


def has_pending_before(conn: Connection, run_id: str, url: str) -> bool:
    """Whether a call of this Run to this URL is still pending (a new call must then wait behind it)."""
    query = select(T.c.delivery_id).where(T.c.run_id == run_id, T.c.url == url, T.c.state == PENDING).limit(1)
    return conn.execute(query).first() is not None


def in_flight(conn: Connection, run_id: str, *, now: int) -> bool:
    """Whether a call of this Run is due or being made (not backing off after a failed try)."""
    query = select(T.c.delivery_id).where(T.c.run_id == run_id, T.c.state == PENDING, T.c.next_try_at <= now)
    return conn.execute(query.limit(1)).first() is not None


def delivered(conn: Connection, delivery_id: int, *, now: int) -> None:
    conn.execute(
        update(T)
        .where(T.c.delivery_id == delivery_id)
        .values(state=DELIVERED, tries=T.c.tries + 1, ended_at=now, claimed_until=None, last_error=None)
    )


def tried(conn: Connection, delivery_id: int, *, now: int, error: str, next_try_at: int, give_up: bool) -> None:
    """A failed try: retried at ``next_try_at``, or (``give_up``) failed for good."""
    values: dict[str, Any] = {"tries": T.c.tries + 1, "last_error": error[:2000], "claimed_until": None}
    if give_up:
        values.update(state=FAILED, ended_at=now)
    else:
        values["next_try_at"] = next_try_at
    conn.execute(update(T).where(T.c.delivery_id == delivery_id, T.c.state == PENDING).values(**values))


def expire(conn: Connection, *, created_before: int, now: int) -> int:
    """Give up pending calls recorded before ``created_before`` that nobody holds a lease on."""
    result = conn.execute(
        update(T)
        .where(T.c.state == PENDING, T.c.created_at < created_before, or_(T.c.claimed_until.is_(None),
               T.c.claimed_until < now))
        .values(state=FAILED, ended_at=now, last_error=func.coalesce(T.c.last_error, "never delivered") )
    )  # fmt: skip
    return result.rowcount or 0


def due_count(conn: Connection, *, now: int) -> int:
    return int(conn.execute(select(func.count()).where(_due(now))).scalar() or 0)


def listing(conn: Connection, states: Iterable[str], *, run_id: str | None = None, limit: int = 1000) -> list[Delivery]:
    query = select(T).where(T.c.state.in_(list(states))).order_by(T.c.delivery_id).limit(limit)
    if run_id is not None:
        query = query.where(T.c.run_id == run_id)
    return [_delivery(row) for row in conn.execute(query)]


def prune(conn: Connection, *, delivered_before: int, failed_before: int) -> int:
    """Forget delivered calls (and failed ones) ended long enough ago."""
    result = conn.execute(
        delete(T).where(
            or_(
                and_(T.c.state == DELIVERED, T.c.ended_at < delivered_before),
                and_(T.c.state == FAILED, T.c.ended_at < failed_before),
            )
        )
    )
    return result.rowcount or 0
