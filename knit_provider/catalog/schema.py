"""Bring a catalog database to the current schema with Alembic (our own version table).

Every ``Knit.open`` checks the schema, including each Airflow task and DAG parse, so the up-to-date case is one
plain query against the version table; Alembic is imported only when there is something to migrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from knit_provider.catalog.engine import write_tx
from knit_provider.catalog.migrations.env_config import VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest migration's revision; a test keeps it equal to Alembic's head.
HEAD = "0003"


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except DBAPIError:  # no version table yet: a new catalog
        return None


def upgrade(engine: Engine) -> None:
    """Migrate to head; serialized like every write, so concurrent first starts do not race."""
    if current_revision(engine) == HEAD:
        return
    from alembic import command

    with write_tx(engine) as conn:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
