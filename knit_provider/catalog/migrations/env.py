"""Alembic environment: runs on the connection handed in by ``catalog.schema.upgrade``."""

from __future__ import annotations

from alembic import context

from knit_provider.catalog.migrations.env_config import VERSION_TABLE
from knit_provider.catalog.models import Base


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
