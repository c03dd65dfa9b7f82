"""``KnitDBManager``: ``airflow db migrate`` brings Knit's catalog to the current schema too.

Airflow runs the external DB managers after its own migrations: the ones providers declare in their provider info's
``db-managers`` (Airflow 3.2+, ``get_provider_info``) and the ones ``[database] external_db_managers`` names (every
Airflow 3 version; the way on 3.1). Airflow's base class migrates Airflow's own database, with the manager's Alembic
environment; Knit's catalog lives wherever the ``[knit]`` settings say (``catalog_url``: Airflow's own database, a
database of its own, or the knit home's SQLite file), so this manager works on that URL instead, through
``catalog.schema``: exactly the migrations ``Knit.open`` runs on first use (the single source), with its own version
table (``knit_alembic_version``), serialized like every catalog write and a no-op at head.

The catalog is never created from the models (Airflow's ``create_db_from_orm`` for a new database) and never dropped
by ``airflow db reset``: it holds the lineage and the Data records, which outlive Airflow's metadata.
"""

from __future__ import annotations

from airflow.exceptions import AirflowException
from airflow.utils.db_manager import BaseDBManager

from knit_provider.catalog.engine import catalog_location, make_engine
from knit_provider.catalog.migrations.env_config import VERSION_TABLE
from knit_provider.catalog.models import Base
from knit_provider.catalog.schema import HEAD, MIGRATIONS, alembic_config, current_revision, open_catalog, upgrade
from knit_provider.core.errors import KnitError

#: Knit's release -> its catalog's head revision (``airflow db-manager migrate --to-version``).
REVISION_HEADS = {"0.1.0": HEAD}
_HEADS = ("head", "heads", HEAD)


def catalog_url() -> str:
    """The catalog the ``[knit]`` settings (a ``knit_default`` connection's, else ``[knit]``, else ``KNIT_*``) name:
    the one Airflow's components open."""
    from knit_provider.hooks.knit import KnitHook

    return KnitHook().settings.effective_catalog_url


class KnitDBManager(BaseDBManager):
    """Knit's catalog as one of Airflow's external databases (see the module text)."""

    metadata = Base.metadata
    version_table_name = VERSION_TABLE
    migration_dir = str(MIGRATIONS)
    alembic_file = str(MIGRATIONS / "env.py")  # unused: ``get_alembic_config`` builds the config in code
    supports_table_dropping = False
    revision_heads_map = REVISION_HEADS

    def get_alembic_config(self):
        config = alembic_config()
        config.set_main_option("sqlalchemy.url", catalog_url().replace("%", "%%"))
        return config

    def get_current_revision(self) -> str | None:
        engine = make_engine(catalog_url())
        try:
            return current_revision(engine)
        except KnitError as err:
            raise AirflowException(f"Knit: {err}") from None
        finally:
            engine.dispose()

    def check_migration(self) -> bool:
        return self.get_current_revision() == HEAD

    def create_db_from_orm(self) -> None:
        """Airflow's way for a new database; Knit's catalog is only ever built by its migrations."""
        self.upgradedb()

    def initdb(self, use_migration_files: bool = False) -> None:
        self.upgradedb()

    def upgradedb(
        self,
        to_revision: str | None = None,
        from_revision: str | None = None,
        show_sql_only: bool = False,
        use_migration_files: bool = False,
    ) -> None:
        """Migrate the catalog to head (creating it from nothing); at head already, nothing happens."""
        if show_sql_only or from_revision:
            raise AirflowException("Knit's catalog has no offline (SQL only) migration: run it against the database")
        if to_revision not in (None, *_HEADS):
            raise AirflowException(f"Knit's catalog migrates to its head ({HEAD}) only, not to {to_revision!r}")
        url = catalog_url()
        where = catalog_location(url)
        try:
            engine = open_catalog(url, migrate=False)
            try:
                before = current_revision(engine)
                upgrade(engine)
            finally:
                engine.dispose()
        except KnitError as err:
            raise AirflowException(f"Knit: {err}") from None
        if before == HEAD:
            self.log.info("Knit's catalog %s is at its head revision %s", where, HEAD)
        else:
            self.log.info("Migrated Knit's catalog %s from %s to %s", where, before or "nothing", HEAD)

    def downgrade(self, to_revision, from_revision=None, show_sql_only=False):
        raise AirflowException("Knit's catalog is not downgraded: restore a backup of it instead")
