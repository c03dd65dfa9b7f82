"""Airflow sees the provider, its ``[knit]`` config, its connection type and its plugin (real ``airflow`` CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from knit_provider.core.options import OPTIONS
from knit_provider.get_provider_info import get_provider_info
from knit_provider.service.settings import KnitSettings

AIRFLOW = str(Path(sys.executable).parent / "airflow")


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "airflow.cfg").write_text("[core]\nload_examples = False\n")
    return {"AIRFLOW_HOME": str(home), "PATH": str(Path(sys.executable).parent), "HOME": str(home)}


def airflow(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_provider_info_follows_airflows_schema() -> None:
    import airflow

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["connection-types"] == [
        {"hook-class-name": "knit_provider.hooks.knit.KnitHook", "connection-type": "knit"}
    ]
    assert set(info["config"]["knit"]["options"]) == set(OPTIONS) >= {"catalog_url", "knit_home", "runner"}


def test_airflow_lists_the_provider_and_its_default_config(airflow_env) -> None:
    providers = json.loads(airflow(airflow_env, "providers", "list", "-o", "json"))
    assert [p["version"] for p in providers if p["package_name"] == "airflow-provider-knit"] == ["0.1.0"]
    assert airflow(airflow_env, "config", "get-value", "knit", "runner").strip() == "process"
    assert airflow(airflow_env, "config", "get-value", "knit", "poll_interval").strip() == OPTIONS["poll_interval"][0]


def test_airflow_loads_the_plugin_from_its_entry_point_and_only_the_api_server_gets_its_app(airflow_env) -> None:
    """Outside the api-server (here the ``airflow`` CLI) the plugin registers neither its app nor its views;
    ``tests/e2e/test_base_url.py`` checks what a real api-server serves."""
    plugins = {p["name"]: p for p in json.loads(airflow(airflow_env, "plugins", "-o", "json"))}
    knit = plugins["knit"]
    assert not knit["fastapi_apps"] and not knit["external_views"], knit


@pytest.mark.conventions
@pytest.mark.parametrize(
    ("argv", "serves"),
    [
        (["/venv/bin/airflow", "api-server"], True),
        (["/venv/bin/airflow", "api-server", "--port", "8080"], True),
        (["/venv/bin/fastapi", "dev", "airflow-core/src/airflow/api_fastapi/main.py"], True),
        (["/venv/bin/airflow", "scheduler"], False),
        (["/venv/bin/airflow", "dag-processor"], False),
        (["/venv/bin/airflow", "plugins"], False),
        (["/venv/bin/airflow"], False),
    ],
)
def test_only_the_api_server_registers_the_app(argv: list[str], serves: bool) -> None:
    from knit_provider.api.plugin import running_in_api_server

    assert running_in_api_server(argv) is serves


@pytest.mark.conventions
def test_the_views_link_under_airflows_base_path() -> None:
    from knit_provider.api.plugin import knit_views

    for base in ("", "/airflow"):
        views = knit_views(base)
        assert {v["href"].split("/knit/")[0] for v in views} == {base}
        assert {v["icon"] for v in views} == {f"{base}/knit/static/knit.svg"}
    runs = {v["destination"]: v["href"] for v in knit_views("/airflow")}
    assert runs["dag_run"] == "/airflow/knit/runs/{RUN_ID}" and runs["dag"] == "/airflow/knit/plans/dag/{DAG_ID}"


def test_the_hook_prefers_connection_extras_then_config_then_env(monkeypatch, tmp_path) -> None:
    from knit_provider.hooks.knit import KnitHook

    monkeypatch.setenv("KNIT_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("AIRFLOW__KNIT__RUNNER", "docker")
    monkeypatch.setenv("AIRFLOW__KNIT__RECONCILE_INTERVAL", "7")
    settings = KnitHook(knit_conn_id=None).settings
    assert (settings.runner, settings.reconcile_interval_s, settings.knit_home) == (
        "docker",
        7.0,
        tmp_path / "env-home",
    )
    conn = {"conn_type": "knit", "host": f"sqlite:///{tmp_path / 'c.db'}", "extra": {"runner": "process"}}
    monkeypatch.setenv("AIRFLOW_CONN_KNIT_TEST", json.dumps(conn))
    settings = KnitHook(knit_conn_id="knit_test").settings
    assert settings.runner == "process" and settings.effective_catalog_url == conn["host"]
    assert settings.reconcile_interval_s == 7.0, "options the connection leaves unset come from [knit]"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("runner", "podman", "unknown runner 'podman'"),
        ("poll_interval", "soon", "not a number"),
        ("redispatch_after", "-1", "positive"),
    ],
)
def test_bad_settings_name_the_option(key: str, value: str, message: str) -> None:
    from knit_provider.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match=message) as caught:
        KnitSettings.resolve({key: value}.get)
    assert f"[knit] {key}" in str(caught.value)
