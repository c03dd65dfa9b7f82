"""Bulk inserts: PostgreSQL ``COPY`` for large batches (one round trip), executemany otherwise."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Table, insert

CHUNK = 400  # list parameters per statement: well under SQLite's and PostgreSQL's limits
COPY_THRESHOLD = 64
#: Up to this many rows in all, a pipeline (one round trip) beats a COPY per table (two each).
PIPELINE_LIMIT = 5_000


def insert_all(conn: Connection, batches: Sequence[tuple[Table, Sequence[dict]]]) -> None:
    """Several inserts in one round trip on PostgreSQL (a psycopg pipeline); one after another elsewhere.

    Parent tables must come before their children: foreign keys are checked per statement, in order.
    """
    batches = [(table, rows) for table, rows in batches if rows]
    if conn.dialect.name != "postgresql" or sum(len(rows) for _, rows in batches) > PIPELINE_LIMIT:
        for table, rows in batches:
            bulk_insert(conn, table, rows)
        return
    raw = conn.connection.dbapi_connection
    with raw.pipeline(), raw.cursor() as cursor:
        for table, rows in batches:
            columns = list(rows[0])
            placeholders = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})"
            cursor.executemany(sql, [[row[c] for c in columns] for row in rows])


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict]) -> None:
    """Insert rows that all have the same keys, inside the caller's transaction."""
    if not rows:
        return
    if conn.dialect.name != "postgresql" or len(rows) < COPY_THRESHOLD:
        conn.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
    finally:
        cursor.close()


def chunked(items: Iterable, size: int = CHUNK) -> Iterable[list]:
    """The distinct items, in order, in lists of at most ``size`` (one statement each)."""
    distinct = list(dict.fromkeys(items))
    for start in range(0, len(distinct), size):
        yield distinct[start : start + size]
