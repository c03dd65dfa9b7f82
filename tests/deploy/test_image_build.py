"""The image docker-compose.yaml builds from ./Dockerfile, tested as far as it can be without pulling apache/airflow.

For real: the Dockerfile is read with the project's Dockerfile lexer; a real Docker daemon builds a probe from
this repository with its .dockerignore, which shows exactly the build context the image gets; the Dockerfile's
wheel stage is replayed on that context (`pip wheel`), and the wheel is installed apart and used.
"""

from __future__ import annotations

import configparser
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from .conftest import REPO, copy_sources, dockerfile_model

FORBIDDEN_IN_CONTEXT = (".venv/", ".git/", "tests/", "examples/", "bench/", "__pycache__/", ".knit-quickstart/")


def test_the_image_extends_apache_airflow_3_3_on_the_tested_python() -> None:
    args, stages = dockerfile_model()
    final = stages[-1]
    found = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", final["from"])
    assert found, f"the image extends the official apache/airflow image, not {final['from']!r}"
    airflow, python = found.groups()
    assert airflow.startswith("3.3."), f"Airflow 3.3.x, not {airflow}"
    assert airflow.rsplit(".", 1)[0] == version("apache-airflow").rsplit(".", 1)[0], "the Airflow the tests run"
    assert python == "3.11" == f"{sys.version_info.major}.{sys.version_info.minor}", "the Python the tests run"
    users = [rest for keyword, rest in final["instructions"] if keyword == "USER"]
    assert users and users[-1] == "airflow", "the image ends as the airflow user, as the official image does"
    runs = " ".join(rest for keyword, rest in final["instructions"] if keyword == "RUN")
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in runs, "pip may never move Airflow itself"
    assert args["AIRFLOW_VERSION"] == airflow
    wheel_stage = next(s for s in stages if s["name"] == "wheel")
    assert any(k == "RUN" and "pip wheel" in r for k, r in wheel_stage["instructions"])
    wheel_copy = ("COPY", "--from=wheel --chown=airflow:0 /tmp/knit-wheel /tmp/knit-wheel")
    assert wheel_copy in final["instructions"], "owned by airflow, who removes it after the install (root's: refused)"
    copies = [copy_sources(r) for k, r in final["instructions"] if k == "COPY"]
    assert (["dags/knit_dags.py"], "/opt/airflow/dags/knit_dags.py") in copies, "Knit's DAG file in the dags folder"


def _context_copies() -> list[tuple[str, list[str], str]]:
    """(stage, sources, dest) of every COPY that reads the build context."""
    _args, stages = dockerfile_model()
    found = []
    for stage in stages:
        for keyword, rest in stage["instructions"]:
            copied = copy_sources(rest) if keyword == "COPY" else None
            if copied is not None:
                found.append((stage["name"] or "final", *copied))
    return found


@pytest.fixture(scope="module")
def build_context(dockerd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This repository as `docker build` sends it (the real daemon applies .dockerignore), extracted."""
    probe_dir = tmp_path_factory.mktemp("context-probe")
    (probe_dir / "Dockerfile").write_text("FROM scratch\nCOPY . /context\n")
    tag = f"knit-test/context-probe:{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the classic builder: no buildx plugin is needed
    built = subprocess.run(
        [*dockerd.command, "build", "-q", "-f", str(probe_dir / "Dockerfile"), "-t", tag, str(REPO)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert built.returncode == 0, built.stderr
    container = dockerd.docker("create", tag, "/none").stdout.strip()
    try:
        exported = subprocess.run([*dockerd.command, "cp", f"{container}:/context", "-"], capture_output=True)
        assert exported.returncode == 0, exported.stderr.decode()
        root = tmp_path_factory.mktemp("build-context")
        with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as archive:
            archive.extractall(root, filter="data")
        yield root / "context"
    finally:
        dockerd.docker("rm", "-f", container, check=False)
        dockerd.docker("rmi", "-f", tag, check=False)


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.docker
def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_more(build_context: Path) -> None:
    files = _files(build_context)
    for stage, sources, _dest in _context_copies():
        for source in sources:
            assert source in files or any(f.startswith(source.rstrip("/") + "/") for f in files), (
                f"{stage} stage copies {source}, which the build context does not hold"
            )
    leaked = sorted(f for f in files if any(f.startswith(p) or f"/{p}" in f for p in FORBIDDEN_IN_CONTEXT))
    assert not leaked, f".dockerignore lets through: {leaked[:10]}"
    package = _files(REPO / "knit_provider")
    wanted = {f"knit_provider/{f}" for f in package if "__pycache__" not in f and not f.endswith(".pyc")}
    assert wanted <= files, f"package files missing from the context: {sorted(wanted - files)[:10]}"


def _wheel_stage_sources(build_context: Path, work: Path) -> Path:
    """The wheel stage's WORKDIR after its COPY lines, replayed from the build context."""
    for stage, sources, dest in _context_copies():
        if stage != "wheel":
            continue
        for source in sources:
            target = work / dest / Path(source).name if dest.endswith("/") else work / dest
            if (build_context / source).is_dir():
                shutil.copytree(build_context / source, target)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(build_context / source, target)
    return work


@pytest.mark.docker
@pytest.mark.slow
def test_the_context_builds_the_wheel_the_image_installs_and_it_works(build_context: Path, tmp_path: Path) -> None:
    sources = _wheel_stage_sources(build_context, tmp_path / "knit-src")
    wheels = tmp_path / "knit-wheel"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), str(sources)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("airflow_provider_knit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(f"{dist_info}/entry_points.txt").decode())
        metadata = archive.read(f"{dist_info}/METADATA").decode()
    migrations = {n for n in names if n.startswith("knit_provider/catalog/migrations/versions/")}
    assert migrations, "the catalog's migrations ship in the wheel"
    data_files = {f for f in _files(build_context) if f.startswith("knit_provider/") and not f.endswith(".py")}
    missing = sorted(data_files - names)
    assert not missing, f"package data left out of the wheel (pyproject package-data): {missing}"
    assert entry_points["apache_airflow_provider"]["provider_info"].startswith("knit_provider.get_provider_info")
    assert entry_points["airflow.plugins"]["knit"] == "knit_provider.api.plugin:KnitPlugin"
    assert entry_points["console_scripts"]["knit"] == "knit_provider.cli.main:main"
    assert re.search(r"^Requires-Dist: apache-airflow<4,>=3\.1", metadata, re.M), "Airflow stays a dependency"

    target = tmp_path / "site"  # the wheel alone; Airflow and the rest come from this venv, as from the image
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    probe = (
        "import knit_provider, sys; from pathlib import Path\n"
        f"assert Path(knit_provider.__file__).is_relative_to({str(target)!r}), knit_provider.__file__\n"
        "from knit_provider.get_provider_info import get_provider_info\n"
        "assert get_provider_info()['package-name'] == 'airflow-provider-knit'\n"
        "from knit_provider.service import Knit\n"
        f"Knit.open(home={str(tmp_path / 'home')!r}).close()\n"
        "from knit_provider.api.plugin import KnitPlugin\n"
        "print('ok', KnitPlugin.name)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert ran.returncode == 0 and ran.stdout.splitlines()[-1] == "ok knit", ran.stderr + ran.stdout
    assert (tmp_path / "home" / "catalog.db").exists(), "the installed wheel migrated a catalog"
    cli = subprocess.run([str(target / "bin" / "knit"), "--help"], capture_output=True, text=True, env=env)
    assert cli.returncode == 0 and "data" in cli.stdout, cli.stderr
