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
from sqlalchemy.exc import DatabaseError, OperationalError

from knit_provider.core.errors import CatalogUnavailable, InvalidInput, shown

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


def catalog_location(url: str) -> str:
    """Where a catalog is, for messages: a SQLite file's path, else the URL without its password."""
    parsed = make_url(normalize_url(url))
    if parsed.drivername.startswith("sqlite"):
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite catalog URL (None for other databases and ``:memory:``)."""
    parsed = make_url(normalize_url(url))
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def unusable(err: BaseException, where: str) -> CatalogUnavailable:
    """A database failure of the catalog as itself (corrupt, read-only, unreachable) as one line naming it."""
    reason = " ".join(str(getattr(err, "orig", None) or err).split()) or type(err).__name__
    hint = ""
    if "readonly" in reason or "read-only" in reason or "unable to open" in reason:
        hint = " (the catalog file and its directory must be writable)"
    elif "not a database" in reason or "malformed" in reason:
        hint = " (the file is not a Knit catalog, or it is corrupt)"
    return CatalogUnavailable(f"catalog {where} cannot be used: {shown(reason)[1:-1]}{hint}")


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str | None = None, **kwargs) -> Engine:
    url = normalize_url(url or catalog_url())
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url, **kwargs)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(url, **kwargs)
    event.listen(engine, "before_cursor_execute", _refuse_nul)
    return engine


def _refuse_nul(_conn, _cursor, _statement, parameters, _context, executemany: bool) -> None:
    """No text with a NUL reaches the catalog, on either backend: PostgreSQL cannot hold one (a ``DataError``
    traceback) and SQLite would. Tags and plan fields are refused earlier, naming their field; this catches the
    rest (an id given to ``show``, ``find -p``, a path segment of a REST route) with one line."""
    rows = parameters if executemany else (parameters,)
    for row in rows:
        values = row.values() if isinstance(row, dict) else row or ()
        for value in values:
            if isinstance(value, str) and "\0" in value:
                raise InvalidInput(f"{shown(value)} contains a NUL character (U+0000), which no id, tag or name has")


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
def catalog_failures(engine: Engine) -> Iterator[None]:
    """The database itself failing (corrupt, read-only, unreachable; not a constraint: those are bugs) becomes
    one ``CatalogUnavailable`` line naming the catalog."""
    try:
        yield
    except (OperationalError, DatabaseError) as err:
        if type(err) not in (OperationalError, DatabaseError):
            raise
        raise unusable(err, catalog_location(engine.url.render_as_string(hide_password=False))) from err


@contextmanager
def write_tx(engine: Engine, *, actor: str | None = None) -> Iterator[Connection]:
    """A serialized read-write transaction: commit on success, roll back on any error. ``actor`` (who writes) is
    recorded on the Runs the transaction creates or changes (``catalog.causes``)."""
    with catalog_failures(engine), engine.connect() as conn:
        conn.execution_options(knit_write=True, knit_actor=actor)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PROJECTION_LOCK_KEY})")
            yield conn


@contextmanager
def read_tx(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: a consistent snapshot for one query set."""
    with catalog_failures(engine), engine.connect() as conn:
        tx = conn.begin()
        try:
            yield conn
        finally:
            tx.rollback()
