"""Bulk inserts: PostgreSQL ``COPY`` for large batches (one round trip), executemany otherwise."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table, insert

COPY_THRESHOLD = 64


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
