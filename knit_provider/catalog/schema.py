"""Bring a catalog database to the current schema with Alembic (our own version table).

Every ``Knit.open`` checks the schema, including each Airflow task and DAG parse, so the up-to-date case is one
plain query against the version table; Alembic is imported only when there is something to migrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from knit_provider.catalog.engine import (
    catalog_failures,
    catalog_location,
    make_engine,
    sqlite_file,
    unusable,
    write_tx,
)
from knit_provider.catalog.migrations.env_config import VERSION_TABLE
from knit_provider.core.errors import CatalogMissing

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest migration's revision; a test keeps it equal to Alembic's head.
HEAD = "0012"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The catalog's schema revision; None for a database without one (a new catalog). A database that cannot
    be opened at all (corrupt, unreadable, unreachable) raises ``CatalogUnavailable``."""
    with catalog_failures(engine), engine.connect() as conn:
        try:
            return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        except DBAPIError:  # no version table yet
            return None


def open_catalog(url: str, *, migrate: bool = True, create: bool = True) -> Engine:
    """An engine on the catalog at ``url``, migrated to head when ``migrate``. Without ``create``, a catalog that
    does not exist yet (a SQLite file not there, a database without Knit's tables) is ``CatalogMissing``: a
    mistyped path must not become a new, empty catalog."""
    where = catalog_location(url)
    path = sqlite_file(url)
    if not create and path is not None and not path.is_file():
        raise CatalogMissing(where)
    if create and path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise unusable(err, where) from None
    engine = make_engine(url)
    try:
        revision = current_revision(engine)
        if revision is None and not create:
            raise CatalogMissing(where)
        if migrate:
            upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def upgrade(engine: Engine) -> None:
    """Migrate to head; serialized like every write, so concurrent first starts do not race."""
    if current_revision(engine) == HEAD:
        return
    from alembic import command

    with write_tx(engine) as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
