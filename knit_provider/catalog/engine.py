"""Where the catalog lives and how transactions are taken.

Every writing transaction is serialized (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: one advisory
transaction lock), because projection reads what other writers may be adding: two pushes that each
complete a combination with the other's Data must not both miss it (write skew).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

#: Key of the PostgreSQL advisory lock that serializes projection (any constant would do).
PROJECTION_LOCK_KEY = 0x6B6E6974  # "knit"
SQLITE_BUSY_TIMEOUT_MS = 60_000


def knit_home() -> Path:
    """``KNIT_HOME``, else ``~/.knit``: the catalog file and the Data store live under it."""
    return Path(os.environ.get("KNIT_HOME") or Path.home() / ".knit").expanduser()


def catalog_url() -> str:
    """``KNIT_CATALOG_URL``, else a SQLite file under the knit home."""
    url = os.environ.get("KNIT_CATALOG_URL")
    if url:
        return url
    return f"sqlite:///{knit_home() / 'catalog.db'}"


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str | None = None, **kwargs) -> Engine:
    url = normalize_url(url or catalog_url())
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("knit_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def is_sqlite(engine_or_conn: Engine | Connection) -> bool:
    return engine_or_conn.dialect.name == "sqlite"


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """A serialized read-write transaction: commit on success, roll back on any error."""
    with engine.connect() as conn:
        conn.execution_options(knit_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PROJECTION_LOCK_KEY})")
            yield conn


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: a consistent snapshot for one query set."""
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            yield conn
        finally:
            tx.rollback()
