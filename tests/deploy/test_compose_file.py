"""docker-compose.yaml, as the compose CLI renders it: Airflow's official layout, Knit's catalog, Data and runner.

Images cannot be pulled here, so nothing is started; what can run for real does: the compose CLI validates and
renders the file, the init job's catalog step runs against a real PostgreSQL, the `knit` service's command line
runs the real `knit`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from .conftest import COMPOSE_FILE, airflow_services, run_compose

CORE = {"postgres", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
LONG_RUNNING = CORE | {"redis", "airflow-worker", "flower"}
ONE_SHOT = {"airflow-init", "airflow-cli", "knit"}
ALL_PROFILES = ("celery", "cli", "debug")


def test_the_file_is_valid_compose_for_every_profile(tmp_path: Path) -> None:
    for profiles in ((), ("celery",), ALL_PROFILES):
        args = [arg for p in profiles for arg in ("--profile", p)] + ["config", "-q"]
        done = run_compose(args, None, tmp_path)
        assert done.returncode == 0, f"profiles {profiles}: {done.stderr}"


def test_it_follows_airflows_official_layout(render) -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    assert "x-airflow-common" in raw, "the shared Airflow settings live in an x-airflow-common anchor"
    model = render(ALL_PROFILES)
    services = model["services"]
    assert CORE | {"airflow-init", "redis", "airflow-worker"} <= set(services)
    for name in LONG_RUNNING:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has a healthcheck"
        assert services[name].get("restart") == "always", f"{name} restarts"
    init_env = services["airflow-init"]["environment"]
    assert init_env["_AIRFLOW_DB_MIGRATE"] == "true" and init_env["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert services["airflow-apiserver"]["command"] in ("api-server", ["api-server"])
    assert services["airflow-dag-processor"]["command"] in ("dag-processor", ["dag-processor"])
    assert any(p.get("target") == 8080 or str(p).endswith("8080") for p in services["airflow-apiserver"]["ports"])


def test_every_airflow_service_runs_the_image_built_from_the_dockerfile(render) -> None:
    model = render(ALL_PROFILES)
    airflow = airflow_services(model)
    assert set(airflow) == set(model["services"]) - {"postgres", "redis"}
    images = {s["image"] for s in airflow.values()}
    assert len(images) == 1, f"one image for every Airflow service: {images}"
    for name, service in airflow.items():
        build = service["build"]
        context = Path(build["context"] if isinstance(build, dict) else build)
        dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        assert (context / dockerfile).resolve() == (COMPOSE_FILE.parent / "Dockerfile").resolve(), name


def test_dependencies_name_real_services_and_profiles_stay_consistent(render) -> None:
    model = render(ALL_PROFILES)
    services = model["services"]
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            profiles = set(service.get("profiles") or [])
            needed = set(services[dependency].get("profiles") or [])
            assert not needed or needed & profiles, f"{name} (profiles {profiles}) needs {dependency} ({needed})"
            if dependency == "airflow-init":
                assert rule["condition"] == "service_completed_successfully"
            elif dependency in LONG_RUNNING:
                assert rule["condition"] == "service_healthy", f"{name} waits for {dependency} to be healthy"
    for name in set(airflow_services(model)) - {"airflow-init", "airflow-cli"}:
        assert "airflow-init" in services[name]["depends_on"], f"{name} starts after the init job"
    assert {n for n, s in services.items() if "celery" in (s.get("profiles") or [])} >= {"redis", "airflow-worker"}
    for name in CORE | {"airflow-init"}:
        assert not services[name].get("profiles"), f"{name} runs without any profile"


def test_airflow_settings_are_shared_and_point_at_the_compose_services(render) -> None:
    model = render(ALL_PROFILES)
    airflow = airflow_services(model)
    shared = (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__CORE__AUTH_MANAGER",
        "AIRFLOW__KNIT__CATALOG_URL",
    )
    for key in shared:
        values = {s["environment"].get(key) for s in airflow.values()}
        assert len(values) == 1 and None not in values, f"{key} is set, and the same, in every Airflow service"
    env = airflow["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", "LocalExecutor by default"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"], "the JWT secret is shared, never generated per process"
    api = re.fullmatch(r"http://([\w-]+):(\d+)/execution/", env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert api and api.group(1) == "airflow-apiserver" and api.group(1) in model["services"]
    metadata = make_url(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    catalog = make_url(env["AIRFLOW__KNIT__CATALOG_URL"])
    assert metadata.host == catalog.host == "postgres", "Airflow and Knit use the compose PostgreSQL"
    assert catalog.database != metadata.database, "the catalog has its own database"
    assert metadata.drivername == catalog.drivername == "postgresql+psycopg"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["KNIT_CATALOG_URL"] == env["AIRFLOW__KNIT__CATALOG_URL"], "the knit CLI sees the same catalog"
    postgres = model["services"]["postgres"]["environment"]
    assert (metadata.username, metadata.password, metadata.database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )


def _mounts(service: dict) -> dict[str, dict]:
    """Container path -> the volume entry (long syntax or ``source:target[:mode]``)."""
    found = {}
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):  # docker-compose 1.x prints the short syntax
            source, target, *mode = entry.split(":")
            entry = {"source": source, "target": target, "read_only": "ro" in mode}
        found[entry["target"]] = entry
    return found


@pytest.mark.parametrize(
    ("env", "runner", "knit_home"),
    [
        ({}, "docker", "/var/lib/knit"),
        ({"KNIT_RUNNER": "kubernetes", "KNIT_HOME_DIR": "/srv/knit"}, "kubernetes", "/srv/knit"),
    ],
)
def test_every_airflow_service_mounts_the_knit_home_at_the_same_path_and_the_runners_access(
    render, env: dict, runner: str, knit_home: str
) -> None:
    model = render(ALL_PROFILES, **env)
    for name, service in airflow_services(model).items():
        environment = service["environment"]
        assert environment["AIRFLOW__KNIT__RUNNER"] == runner, name
        assert environment["AIRFLOW__KNIT__KNIT_HOME"] == environment["KNIT_HOME"] == knit_home, name
        mounts = _mounts(service)
        assert knit_home in mounts, f"{name} mounts the knit home (the Data store) at {knit_home}"
        assert mounts[knit_home]["source"] == knit_home, f"{name}: the Data store at the host's own path"
        assert mounts["/var/run/docker.sock"]["source"] == "/var/run/docker.sock", f"{name}: the docker socket"
        kube = mounts[str(Path(environment["AIRFLOW__KNIT__KUBERNETES_CONFIG_FILE"]).parent)]
        assert kube.get("read_only"), f"{name}: the kubeconfig, read-only"
        assert environment["DOCKER_HOST"] == "unix:///var/run/docker.sock"
    for volume in {m["source"] for s in model["services"].values() for m in _mounts(s).values()}:
        assert volume.startswith("/") or volume in model.get("volumes", {}), f"named volume {volume} is declared"


def test_the_executor_follows_the_environment(render) -> None:
    model = render(("celery",), AIRFLOW_EXECUTOR="CeleryExecutor")
    for name, service in airflow_services(model).items():
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
    worker = model["services"]["airflow-worker"]
    assert worker["command"] in ("celery worker", ["celery", "worker"])
    broker = make_url(worker["environment"]["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.drivername == "redis" and broker.host == "redis" and "redis" in model["services"]


def _init_catalog_script(render) -> str:
    """The Python the init job feeds to ``python -`` (a heredoc in its bash command)."""
    command = render()["services"]["airflow-init"]["command"]
    script = (command[-1] if isinstance(command, list) else command).replace("$$", "$")
    found = re.search(r"python - <<'(\w+)'\n(.*?)\n\1\n", script, re.S)
    assert found, "the init job creates the catalog database with an inline python step"
    return found.group(2)


@pytest.mark.postgresql
def test_the_init_job_creates_and_migrates_the_catalogs_own_database(render, postgres_server, tmp_path: Path) -> None:
    script = _init_catalog_script(render)
    name = f"knit_compose_{os.getpid()}"
    url = make_url(postgres_server.url(name)).render_as_string(hide_password=False)
    env = {**os.environ, "KNIT_CATALOG_URL": url, "KNIT_HOME": str(tmp_path / "knit-home")}
    for attempt in (1, 2):  # the init job runs at every `docker compose up`: the second time changes nothing
        done = subprocess.run([sys.executable, "-"], input=script, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"attempt {attempt}: {done.stderr}"
        assert f"database {name!r}" in done.stdout
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"knit_runs", "knit_data", "knit_plans"} <= tables, "the catalog is migrated"


def test_the_knit_service_hands_its_arguments_to_the_knit_cli(render) -> None:
    knit = render(("cli",))["services"]["knit"]
    entrypoint = knit["entrypoint"]
    assert entrypoint[:3] == ["/usr/bin/dumb-init", "--", "/entrypoint"], "through the image's entrypoint"
    # `config` prints the file still escaped (`$$` is a literal `$` once compose runs it)
    command = [word.replace("$$", "$") for word in entrypoint[3:]] + ["plan", "find", "--help"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Usage: knit plan find" in done.stdout
