"""Keyset paging in SQL, and whole lists read in bounded batches from one snapshot.

- ``page_keys``: one page of a filtered query, newest first by ``(created_at, id)`` (indexed, migration 0007),
  continuing from a cursor with a row-value comparison, so the database walks the index from the cursor on
  instead of counting past an offset. ``limit + 1`` rows are read to know whether more exist.
- ``batched``: every row of a query in a given order, ``batch`` rows at a time by keyset on that order, all
  inside one ``snapshot_tx``: a list streamed to a client costs memory for one batch only, and is the list as it
  stood when the stream started even though Runs change status meanwhile (``knit run find`` keeps Knitfab's order
  by update time, which no cursor across separate transactions could keep stable).
- ``count_capped``: how many rows match, counting no further than a cap (a page's "10,000+").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Column, Connection, Engine, Select, func, select, tuple_

from knit_provider.catalog.engine import catalog_failures
from knit_provider.core.paging import Cursor, Key

#: rows per batch when a whole list is streamed
BATCH = 500


@contextmanager
def snapshot_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees one snapshot for all its statements (PostgreSQL: REPEATABLE READ, READ
    ONLY; SQLite in WAL mode: a deferred read transaction, whose snapshot is taken by its first read)."""
    with catalog_failures(engine), engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        tx = conn.begin()
        try:
            yield conn
        finally:
            tx.rollback()


def page_keys(
    conn: Connection, query: Select, created: Column, ident: Column, *, limit: int, cursor: Cursor | None
) -> tuple[list[Key], bool]:
    """Keys of one page of ``query`` (which selects at least ``created`` and ``ident``), newest first, and
    whether more items lie beyond it in the direction read."""
    key = tuple_(created, ident)
    if cursor is None or cursor.direction == "older":
        if cursor is not None:
            query = query.where(key < tuple_(cursor.key.created_at, cursor.key.ident))
        query = query.order_by(created.desc(), ident.desc())
    else:
        query = query.where(key > tuple_(cursor.key.created_at, cursor.key.ident)).order_by(created, ident)
    rows = conn.execute(query.with_only_columns(created, ident).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if cursor is not None and cursor.direction == "newer":
        rows.reverse()
    return [Key(int(created_at), str(row_id)) for created_at, row_id in rows], more


def batched(
    conn: Connection, query: Select, first: Column, second: Column, *, batch: int | None = None
) -> Iterator[list]:
    """Values of ``second`` (the id) for every row of ``query``, ordered by ``(first, second)``, in batches of
    ``batch`` (default ``BATCH``)."""
    batch = batch or BATCH
    position = None
    while True:
        page = query.with_only_columns(first, second).order_by(first, second).limit(batch)
        if position is not None:
            page = page.where(tuple_(first, second) > tuple_(*position))
        rows = conn.execute(page).all()
        if rows:
            yield [row[1] for row in rows]
        if len(rows) < batch:
            return
        position = tuple(rows[-1])


def count_capped(conn: Connection, query: Select, cap: int) -> tuple[int, bool]:
    """How many rows ``query`` has, up to ``cap``; and whether there are more than that."""
    limited = query.limit(cap + 1).subquery()
    found = conn.execute(select(func.count()).select_from(limited)).scalar_one()
    return min(found, cap), found > cap
