"""``airflow db migrate`` migrates Knit's catalog (``KnitDBManager``), in Airflow's own database or in its own one,
on SQLite and PostgreSQL: a real ``airflow db migrate`` in a subprocess, with an AIRFLOW_HOME made for the test.

On Airflow 3.2+ the provider info declares the manager (``db-managers``); on 3.1 the test names it in
``[database] external_db_managers``, as docs/airflow-conventions.md tells 3.1 users to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from knit_provider.catalog.engine import make_engine, write_tx
from knit_provider.catalog.migrations.env_config import VERSION_TABLE
from knit_provider.catalog.models import UPLOAD_PLAN_ID, Base, plans_t
from knit_provider.catalog.schema import HEAD, alembic_config, current_revision
from knit_provider.get_provider_info import DB_MANAGER
from knit_provider.version_compat import PROVIDER_DB_MANAGERS

pytestmark = [pytest.mark.conventions, pytest.mark.slow]

AIRFLOW = str(Path(sys.executable).parent / "airflow")
OLD_REVISION = "0002"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """``new_database(name)`` -> the URL of an empty database on this test's backend."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path / name}.db"
    server = request.getfixturevalue("postgres_server")
    return lambda name: server.create_database(f"{name}_{os.getpid()}_{abs(hash(tmp_path)) % 10**8}")


def run_airflow_db(home: Path, airflow_db: str, catalog: str, *args: str) -> subprocess.CompletedProcess:
    """``airflow db ARGS`` with ``[knit] catalog_url = catalog``."""
    home.mkdir(parents=True, exist_ok=True)
    database = [f"sql_alchemy_conn = {airflow_db}"]
    if airflow_db.startswith("postgresql"):  # psycopg 3 for the async engine too (derived, it would want asyncpg)
        database.append(f"sql_alchemy_conn_async = {airflow_db}")
    if not PROVIDER_DB_MANAGERS:
        database.append(f"external_db_managers = {DB_MANAGER}")
    (home / "airflow.cfg").write_text(
        "[core]\nload_examples = False\n\n[database]\n" + "\n".join(database) + "\n\n"
        f"[knit]\ncatalog_url = {catalog}\nknit_home = {home / 'knit-home'}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "KNIT_"))}
    env.update(AIRFLOW_HOME=str(home), HOME=str(home), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}")
    return subprocess.run([AIRFLOW, "db", *args], env=env, capture_output=True, text=True, timeout=300, cwd=home)


def airflow_db_migrate(home: Path, airflow_db_url: str, catalog: str) -> None:
    done = run_airflow_db(home, airflow_db_url, catalog, "migrate")
    assert done.returncode == 0, f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def assert_catalog_at_head(url: str) -> None:
    """At HEAD, with exactly the models' schema, the rows the migrations add, and only our version table."""
    engine = make_engine(url)
    try:
        assert current_revision(engine) == HEAD
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "include_name": _knit_tables_only}
            )
            diff = [
                d
                for d in compare_metadata(context, Base.metadata)
                if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)
            ]
            assert diff == [], f"the migrated catalog differs from the models: {diff}"
            upload_plan = select(plans_t.c.name).where(plans_t.c.plan_id == UPLOAD_PLAN_ID)
            assert conn.execute(upload_plan).scalar() == "knit#uploaded"
    finally:
        engine.dispose()


def _knit_tables_only(name: str | None, type_: str, _parents: dict) -> bool:
    """Compare Knit's tables only: Airflow's share the database in half the cases."""
    return type_ != "table" or bool(name and name.startswith("knit_"))


def leave_catalog_at(url: str, revision: str) -> None:
    """A catalog an older Knit made: migrated to ``revision`` only."""
    engine = make_engine(url)
    try:
        with write_tx(engine) as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
        assert current_revision(engine) == revision
    finally:
        engine.dispose()


@pytest.mark.parametrize("placement", ["own-db", "airflow-db"])
def test_db_migrate_creates_the_catalog_from_nothing(tmp_path, new_database, placement: str) -> None:
    airflow_db = new_database("airflow")
    catalog = airflow_db if placement == "airflow-db" else new_database("catalog")

    airflow_db_migrate(tmp_path / "airflow", airflow_db, catalog)
    assert_catalog_at_head(catalog)
    airflow_tables = set(inspect(make_engine(airflow_db)).get_table_names())
    assert {"alembic_version", "dag_run"} <= airflow_tables, "Airflow's own migration ran too"

    airflow_db_migrate(tmp_path / "airflow", airflow_db, catalog)  # again: nothing to do, nothing breaks
    assert_catalog_at_head(catalog)


@pytest.mark.parametrize("placement", ["own-db", "airflow-db"])
def test_db_migrate_upgrades_a_catalog_left_at_an_older_revision(tmp_path, new_database, placement: str) -> None:
    airflow_db = new_database("airflow")
    catalog = airflow_db if placement == "airflow-db" else new_database("catalog")
    # Airflow's database exists and is current (its catalog elsewhere), so this is Airflow's upgrade path
    airflow_db_migrate(tmp_path / "airflow", airflow_db, new_database("elsewhere"))
    leave_catalog_at(catalog, OLD_REVISION)
    waiting = run_airflow_db(
        tmp_path / "airflow", airflow_db, catalog, "check-migrations", "--migration-wait-timeout", "1"
    )
    assert waiting.returncode != 0, "components waiting for migrations wait for the catalog's too"

    airflow_db_migrate(tmp_path / "airflow", airflow_db, catalog)
    assert_catalog_at_head(catalog)
    checked = run_airflow_db(
        tmp_path / "airflow", airflow_db, catalog, "check-migrations", "--migration-wait-timeout", "1"
    )
    assert checked.returncode == 0, checked.stderr[-2000:]
