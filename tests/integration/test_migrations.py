"""The Alembic migrations build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from knit_provider.catalog.engine import make_engine
from knit_provider.catalog.migrations.env_config import VERSION_TABLE
from knit_provider.catalog.models import UPLOAD_PLAN_ID, Base, plans_t
from knit_provider.catalog.schema import HEAD, current_revision, head_revision, upgrade


def test_upgrade_from_empty_matches_models(catalog_url: str) -> None:
    engine = make_engine(catalog_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision() == HEAD, "schema.HEAD names the newest migration"
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            diff = compare_metadata(context, Base.metadata)
            diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)]
            assert diff == [], f"models and migrations disagree: {diff}"
            assert conn.execute(select(plans_t.c.name).where(plans_t.c.plan_id == UPLOAD_PLAN_ID)).scalar() == (
                "knit#uploaded"
            )
        upgrade(engine)  # idempotent
        assert VERSION_TABLE in inspect(engine).get_table_names()
        assert "alembic_version" not in inspect(engine).get_table_names(), "never Airflow's version table"
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
    engine.dispose()
