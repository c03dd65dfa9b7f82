"""``AirflowCluster`` writes Standalone's airflow.cfg with the shared databases swapped in, and refuses bad input."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from knit_dev.cluster import AirflowCluster

METADATA = "postgresql+psycopg://knit:secret@127.0.0.1:5432/airflow"
CATALOG = "postgresql+psycopg://knit:secret@127.0.0.1:5432/knit"


def test_the_config_points_every_component_at_the_shared_databases(tmp_path: Path) -> None:
    cluster = AirflowCluster(knit_home=tmp_path / "home", port=18080, metadata_url=METADATA, catalog_url=CATALOG)
    cluster.configure()
    config = configparser.ConfigParser(interpolation=None)
    config.read(cluster.airflow_home / "airflow.cfg")
    assert config["database"]["sql_alchemy_conn"] == METADATA
    assert config["database"]["sql_alchemy_conn_async"] == METADATA, "psycopg 3 for the async engine, not asyncpg"
    assert config["knit"]["catalog_url"] == CATALOG
    assert config["core"]["executor"] == "LocalExecutor"
    assert config["core"]["execution_api_server_url"] == "http://localhost:18080/execution/"
    assert config["api_auth"]["jwt_secret"], "one JWT secret for every component"
    assert cluster.env()["KNIT_CATALOG_URL"] == CATALOG, "the knit CLI sees the catalog the DAGs see"
    cluster.configure()  # a restart keeps the secrets
    again = configparser.ConfigParser(interpolation=None)
    again.read(cluster.airflow_home / "airflow.cfg")
    assert again["api_auth"]["jwt_secret"] == config["api_auth"]["jwt_secret"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"metadata_url": ""}, "needs metadata_url"),
        ({"metadata_url": "sqlite:////tmp/airflow.db"}, "not sqlite://"),
        ({"metadata_url": "postgresql+psycopg2://u:secret@h/airflow"}, "not postgresql+psycopg2://"),
        ({"metadata_url": METADATA, "schedulers": 0}, "schedulers must be at least 1"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path: Path, options: dict, message: str) -> None:
    cluster = AirflowCluster(knit_home=tmp_path / "home", **options)
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        cluster.configure()
    assert "secret" not in str(caught.value), "a URL's password never appears in the error"
    assert not (cluster.airflow_home / "airflow.cfg").exists()
