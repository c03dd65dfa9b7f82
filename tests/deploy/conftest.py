"""The deployment files as the tools read them: the compose CLI renders docker-compose.yaml; Dockerfile parsing."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
#: The variables docker-compose.yaml reads: unset for a hermetic render unless a test sets them.
COMPOSE_VARIABLES = (
    "AIRFLOW_UID",
    "AIRFLOW_IMAGE_NAME",
    "AIRFLOW_EXECUTOR",
    "AIRFLOW_JWT_SECRET",
    "FERNET_KEY",
    "_AIRFLOW_WWW_USER_USERNAME",
    "_AIRFLOW_WWW_USER_PASSWORD",
    "KNIT_HOME_DIR",
    "KNIT_RUNNER",
    "DOCKER_SOCKET",
    "DOCKER_GID",
    "KNIT_KUBE_DIR",
    "KNIT_IMAGE_MAP",
    "AIRFLOW_API_PORT",
    "FLOWER_PORT",
)


def compose_command() -> list[str]:
    """``docker compose`` (the plugin) when the docker CLI has it, else Debian's ``docker-compose``."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    raise AssertionError(
        "no compose CLI: install Debian's docker-compose (apt-get install docker-compose) or the compose plugin"
    )


def run_compose(args: list[str], env: dict[str, str] | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The compose CLI on this project's file, with only the given variables set (no .env is read)."""
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES}
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    command = [*compose_command(), "--project-directory", str(REPO), "-f", str(COMPOSE_FILE)]
    command += ["--env-file", str(env_file), *args]
    return subprocess.run(command, env={**clean, **(env or {})}, capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="session")
def render(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., dict]:
    """``render(profiles=[...], KNIT_RUNNER="kubernetes")`` -> the compose model as ``docker compose config``
    prints it (anchors merged, variables interpolated, every service of the given profiles). Cached: the CLI is slow.
    """
    work = tmp_path_factory.mktemp("compose")
    cache: dict[tuple, dict] = {}

    def rendered(profiles: tuple[str, ...] = (), **env: str) -> dict:
        key = (tuple(profiles), tuple(sorted(env.items())))
        if key not in cache:
            args = [arg for profile in profiles for arg in ("--profile", profile)] + ["config"]
            done = run_compose(args, env, work)
            assert done.returncode == 0, f"compose config failed:\n{done.stderr}"
            cache[key] = yaml.safe_load(done.stdout)
        return copy.deepcopy(cache[key])

    return rendered


def airflow_services(model: dict) -> dict[str, dict]:
    """The services running the Airflow image (everything but PostgreSQL and Redis)."""
    return {
        name: s for name, s in model["services"].items() if "AIRFLOW__CORE__EXECUTOR" in (s.get("environment") or {})
    }


def dockerfile_model() -> tuple[dict[str, str], list[dict]]:
    """The Dockerfile's global ARG defaults, and its stages (``{"from", "name", "instructions"}``, ARGs resolved)."""
    from knit_provider.core.image_config import dockerfile_instructions

    args: dict[str, str] = {}
    stages: list[dict] = []
    for _where, keyword, rest, _escape in dockerfile_instructions(DOCKERFILE):
        if keyword == "ARG" and not stages:
            key, _, value = rest.partition("=")
            args[key.strip()] = substitute(value.strip(), args)
        elif keyword == "FROM":
            image, _, name = substitute(rest, args).partition(" AS ")
            stages.append({"from": image.strip(), "name": name.strip() or None, "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, rest))
    return args, stages


def substitute(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), text)


def copy_sources(rest: str) -> tuple[list[str], str] | None:
    """``COPY [--flags] src... dest`` -> (sources, dest); None for ``COPY --from=stage`` (not from the context)."""
    words = rest.split()
    if any(w.startswith("--from=") for w in words):
        return None
    paths = [w for w in words if not w.startswith("--")]
    return paths[:-1], paths[-1]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failed test on the compose deployment gets the logs of every container in its report."""
    outcome = yield
    report = outcome.get_result()
    deployment = getattr(item, "funcargs", {}).get("deployment")
    if report.failed and deployment is not None and hasattr(deployment, "logs"):
        try:
            report.sections.append(("compose logs", deployment.logs()[-200_000:]))
        except Exception as exc:  # the report must not fail for want of logs
            report.sections.append(("compose logs", f"could not read the logs: {exc}"))
