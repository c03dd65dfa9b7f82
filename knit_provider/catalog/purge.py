"""Purge in the catalog (Knitfab 2.0): a Data marked purged, the Runs and downloads that block it, read leases.

A purged Data keeps its row, tags, producing Run and lineage; ``purged_at`` says its bytes are gone. The mark is
recorded before the bytes are deleted (by the service, after the commit), so a purged Data stops being served at
once and a crash in between leaves only bytes for the sweep. Purge waits for the Runs that make or read the Data
and for downloads in progress, which hold a lease (a ``knit_data_reads`` row) renewed while they read.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, delete, select, update

from knit_provider.catalog.models import data_reads_t, data_t, nominations_t, run_inputs_t, runs_t
from knit_provider.core.errors import Conflict, NotFound
from knit_provider.core.lifecycle import TERMINAL
from knit_provider.core.purged import gone
from knit_provider.core.timefmt import format_ms

_FINISHED = [s.value for s in TERMINAL]


def _data(conn: Connection, knit_id: str):
    row = conn.execute(select(data_t.c.run_id, data_t.c.purged_at).where(data_t.c.knit_id == knit_id)).first()
    if row is None:
        raise NotFound(f"data not found: {knit_id}")
    return row


def blocker(conn: Connection, knit_id: str, run_id: str, now_ms: int) -> str | None:
    """Why ``knit_id`` cannot be purged now (the Run making or reading it, a download), or None."""
    maker = conn.execute(select(runs_t.c.status).where(runs_t.c.run_id == run_id)).scalar_one()
    if maker not in _FINISHED:
        return f"the run that makes it, {run_id}, has not finished (status {maker})"
    reader = conn.execute(
        select(runs_t.c.run_id, runs_t.c.status)
        .join(run_inputs_t, run_inputs_t.c.run_id == runs_t.c.run_id)
        .where(run_inputs_t.c.knit_id == knit_id, runs_t.c.status.not_in(_FINISHED))
        .order_by(runs_t.c.run_id)
        .limit(1)
    ).first()
    if reader is not None:
        return f"run {reader.run_id} uses it and has not finished (status {reader.status})"
    until = conn.execute(
        select(data_reads_t.c.expires_at)
        .where(data_reads_t.c.knit_id == knit_id, data_reads_t.c.expires_at > now_ms)
        .order_by(data_reads_t.c.expires_at.desc())
        .limit(1)
    ).scalar()
    if until is not None:
        return f"it is being downloaded (the download's lease runs until {format_ms(until)} unless it ends sooner)"
    return None


def mark_purged(conn: Connection, knit_id: str, now_ms: int) -> bool:
    """Record the purge (and drop the Data's nominations); False when it was purged already (nothing changes).

    Refused with a ``Conflict`` naming what blocks it.
    """
    row = _data(conn, knit_id)
    if row.purged_at is not None:
        return False
    reason = blocker(conn, knit_id, row.run_id, now_ms)
    if reason is not None:
        raise Conflict(f"cannot purge data {knit_id}: {reason}")
    conn.execute(update(data_t).where(data_t.c.knit_id == knit_id).values(purged_at=now_ms))
    conn.execute(delete(nominations_t).where(nominations_t.c.knit_id == knit_id))
    conn.execute(delete(data_reads_t).where(data_reads_t.c.knit_id == knit_id))  # expired leases only, by now
    return True


def start_read(conn: Connection, knit_id: str, now_ms: int, ttl_ms: int) -> str:
    """A lease for reading ``knit_id``'s bytes until ``now + ttl``; ``Gone`` if it was purged."""
    if _data(conn, knit_id).purged_at is not None:
        raise gone(knit_id)
    read_id = str(uuid.uuid4())
    conn.execute(data_reads_t.insert().values(read_id=read_id, knit_id=knit_id, expires_at=now_ms + ttl_ms))
    return read_id


def renew_read(conn: Connection, read_id: str, expires_at: int) -> None:
    conn.execute(update(data_reads_t).where(data_reads_t.c.read_id == read_id).values(expires_at=expires_at))


def end_read(conn: Connection, read_id: str, now_ms: int) -> None:
    """The read ended; expired leases of crashed readers are cleared on the way."""
    conn.execute(delete(data_reads_t).where(data_reads_t.c.read_id == read_id))
    conn.execute(delete(data_reads_t).where(data_reads_t.c.expires_at <= now_ms))


def purged_inputs(conn: Connection, run_id: str) -> list[str]:
    """The knit ids of a Run's inputs that were purged (such a Run cannot be retried)."""
    return list(
        conn.execute(
            select(run_inputs_t.c.knit_id)
            .join(data_t, data_t.c.knit_id == run_inputs_t.c.knit_id)
            .where(run_inputs_t.c.run_id == run_id, data_t.c.purged_at.is_not(None))
            .order_by(run_inputs_t.c.knit_id)
        ).scalars()
    )


def purged_with_bytes(conn: Connection, knit_ids: list[str]) -> set[str]:
    """Which of ``knit_ids`` (Data directories found in the store) belong to purged Data."""
    if not knit_ids:
        return set()
    return set(
        conn.execute(
            select(data_t.c.knit_id).where(data_t.c.knit_id.in_(knit_ids), data_t.c.purged_at.is_not(None))
        ).scalars()
    )


def is_purged(conn: Connection, knit_id: str) -> bool | None:
    """Whether a Data's bytes were purged; None for no such Data."""
    row = conn.execute(select(data_t.c.purged_at).where(data_t.c.knit_id == knit_id)).first()
    return None if row is None else row.purged_at is not None
