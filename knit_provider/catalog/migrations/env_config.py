"""Constants shared by the Alembic environment and ``catalog.schema``."""

VERSION_TABLE = "knit_alembic_version"  # never Airflow's ``alembic_version``
