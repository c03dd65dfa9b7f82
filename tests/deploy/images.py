"""The images docker-compose.yaml runs, made locally in the tests' own dockerd, where nothing can be pulled.

Three Debian rootfs are made with debootstrap from Debian's packages (cached under ``~/.cache/knit-test``) and
imported; on them the stand-ins of ``standins/`` are built: the Airflow base (for ./Dockerfile's ``AIRFLOW_IMAGE``
build argument), PostgreSQL, Redis, ``python:3.11-slim`` (what the examples' Run images start from), and a
``docker`` CLI stage (./Dockerfile's ``DOCKER_CLI_IMAGE``). Python packages come from wheelhouses built on the
host (``wheelhouse.py``), so no image build needs a network. The Airflow image itself is then built from
./Dockerfile by the compose CLI, exactly as in production but for those two build arguments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from knit_dev.docker import (
    DEBIAN_PYTHON_IMAGE,
    TemporaryDockerd,
    build_debian_image,
    build_debian_python_image,
    find_docker_client,
)

from .wheelhouse import installed_version, project_extra, project_requirements, wheelhouse

STANDINS = Path(__file__).resolve().parent / "standins"
DEBIAN_AIRFLOW = "knit-test/debian-airflow:bookworm"
DEBIAN_SERVICES = "knit-test/debian-services:bookworm"
#: what the Airflow containers need from Debian: the interpreter, `dot` for the graphs, the healthchecks' curl,
#: and the official image's init
AIRFLOW_PACKAGES = ("python3", "graphviz", "curl", "dumb-init")
SERVICE_PACKAGES = ("postgresql", "redis-server")


@dataclass(frozen=True)
class LocalImages:
    """The tags the compose override (``docker-compose.test.yaml``) and ./Dockerfile's build arguments name."""

    airflow_base: str = "knit-test/airflow-base:3.3-python3.11"
    docker_cli: str = "knit-test/docker-cli:local"
    postgres: str = "knit-test/postgres:15-debian"
    redis: str = "knit-test/redis:7-debian"
    python: str = "python:3.11-slim"  # the examples' FROM, unchanged: only in the tests' own daemon

    def build_args(self) -> dict[str, str]:
        return {"AIRFLOW_IMAGE": self.airflow_base, "DOCKER_CLI_IMAGE": self.docker_cli}


def airflow_requirements() -> list[str]:
    """Airflow as the venv has it, the providers the compose file uses, the package's own dependencies with the
    ``s3`` extra ./Dockerfile installs, and the build tools its wheel stage needs."""
    own = [r for r in project_requirements() if not r.replace(" ", "").startswith("apache-airflow>")]
    airflow = f"apache-airflow=={installed_version('apache-airflow')}"
    # the images run Debian's python 3.11.2: redis needs async-timeout below 3.11.3, which the host may be above
    # and the s3 extra's beautifulsoup4 takes the newest soupsieve, which wants Python 3.11.5 or later
    target_only = ["async-timeout>=4.0.3", "soupsieve<3"]
    # Airflow's constraints pin these in the official image (the constraints file is not reachable here): celery
    # 5.7 dropped celery.backends.database.retry, which the Celery provider imports
    constrained = ["celery>=5.5,<5.7"]
    providers = ["apache-airflow-providers-celery", "apache-airflow-providers-fab"]
    return [airflow, *providers, *constrained, "setuptools>=68", *own, *project_extra("s3"), *target_only]


def example_requirements() -> list[str]:
    return [f"numpy=={installed_version('numpy')}", f"pillow=={installed_version('pillow')}"]


def build_local_images(dockerd: TemporaryDockerd, images: LocalImages = LocalImages()) -> LocalImages:
    """Everything but the Airflow image itself; independent steps run in parallel (rootfs, wheels, builds)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        bases = [
            pool.submit(build_debian_image, dockerd, AIRFLOW_PACKAGES, DEBIAN_AIRFLOW),
            pool.submit(build_debian_image, dockerd, SERVICE_PACKAGES, DEBIAN_SERVICES),
            pool.submit(build_debian_python_image, dockerd, DEBIAN_PYTHON_IMAGE),
        ]
        airflow_wheels = pool.submit(wheelhouse, "airflow", airflow_requirements())
        python_wheels = pool.submit(wheelhouse, "python", example_requirements())
        for base in bases:
            base.result()
        builds = [
            pool.submit(_build, dockerd, images.airflow_base, "airflow", airflow_wheels.result()),
            pool.submit(_build, dockerd, images.postgres, "postgres"),
            pool.submit(_build, dockerd, images.redis, "redis"),
            pool.submit(_build, dockerd, images.python, "python", python_wheels.result()),
            pool.submit(_build_docker_cli, dockerd, images.docker_cli),
        ]
        for build in builds:
            build.result()
    return images


def _build(dockerd: TemporaryDockerd, tag: str, standin: str, wheels: Path | None = None) -> None:
    if dockerd.docker("image", "inspect", tag, check=False).returncode == 0:
        return
    with tempfile.TemporaryDirectory(prefix=f"knit-standin-{standin}-") as scratch:
        context = Path(scratch) / "context"
        shutil.copytree(STANDINS / standin, context)
        if wheels is not None:
            shutil.copytree(wheels, context / "wheels", copy_function=_link_or_copy)
        _docker_build(dockerd, tag, context)


def _build_docker_cli(dockerd: TemporaryDockerd, tag: str) -> None:
    """``FROM scratch`` + this machine's docker client at /usr/local/bin/docker (./Dockerfile copies it from
    there, as from docker:28-cli)."""
    if dockerd.docker("image", "inspect", tag, check=False).returncode == 0:
        return
    with tempfile.TemporaryDirectory(prefix="knit-standin-docker-cli-") as scratch:
        context = Path(scratch)
        shutil.copy2(find_docker_client(), context / "docker")
        (context / "Dockerfile").write_text("FROM scratch\nCOPY docker /usr/local/bin/docker\n")
        _docker_build(dockerd, tag, context)


def _docker_build(dockerd: TemporaryDockerd, tag: str, context: Path) -> None:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the classic builder: no buildx plugin, nothing to pull
    done = dockerd.docker("build", "-q", "-t", tag, str(context), check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"building the stand-in {tag} failed: {done.stderr.strip()[-3000:]}")


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def remove_build_cache(dockerd: TemporaryDockerd) -> None:
    """Dangling intermediate images of the builds (the wheelhouse stages), so the daemon's disk stays small."""
    subprocess.run([*dockerd.command, "image", "prune", "-f"], capture_output=True)
