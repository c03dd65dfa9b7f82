"""Drive ``knit`` as a user does: a fresh KNIT_HOME, a working directory, stdout/stderr/exit code apart.

Every test using ``cli`` runs twice, once per mode: ``local`` (the catalog in KNIT_HOME) and ``remote`` (a
``knit init --airflow URL`` profile, so every command goes through the Knit REST API of one real api-server
shared by the session, its catalog emptied before each test). The same assertions hold in both. A test about
something only the local mode has (profiles pointing at a directory, KNIT_HOME) says so with ``@LOCAL_ONLY``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_remote import USER, KnitApiServer, empty_catalog
from click.testing import CliRunner
from knit_dev.standalone import free_port

from knit_provider.cli.main import knit
from knit_provider.service import Knit


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture(params=["local", pytest.param("remote", marks=pytest.mark.e2e)])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def knit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnitApiServer]:
    """One real api-server with the Knit plugin for the remote mode; no DAGs, so no Run ever executes."""
    dags = tmp_path_factory.mktemp("no-dags")
    with KnitApiServer(knit_home=tmp_path_factory.mktemp("server-home"), port=free_port(), dags_folder=dags) as server:
        yield server


@pytest.fixture(scope="session")
def server_knit(knit_server: KnitApiServer) -> Iterator[Knit]:
    """The api-server's catalog, opened directly."""
    with Knit.open(home=knit_server.knit_home) as instance:
        yield instance


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("KNIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KNIT_PROFILE_STORE", str(tmp_path / "profiles"))
    for name in ("KNIT_CATALOG_URL", "KNIT_REMOTE_URL", *(f"KNIT_AIRFLOW_{k}" for k in ("URL", "TOKEN", "USERNAME"))):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(work)
    return work


def invoke(*args: str, input: bytes | str | None = None) -> Result:
    outcome = CliRunner().invoke(knit, list(args), input=input, catch_exceptions=False)
    return Result(
        outcome.exit_code, outcome.stdout_bytes.decode(errors="replace"), outcome.stderr, outcome.stdout_bytes
    )


@pytest.fixture
def run_knit(workdir: Path):
    """``knit`` in the working directory, whatever profile it has (no mode set up)."""
    return invoke


@pytest.fixture
def cli(request: pytest.FixtureRequest, mode: str, workdir: Path, tmp_path: Path):
    """``cli("data", "find", "-t", "a:b")`` -> Result; ``input`` feeds stdin. In the remote mode the working
    directory has a remote profile and the server's catalog starts empty; nothing may appear in KNIT_HOME."""
    if mode == "remote":
        server: KnitApiServer = request.getfixturevalue("knit_server")
        empty_catalog(request.getfixturevalue("server_knit"))
        made = invoke("init", "--airflow", server.url, "--username", USER, "--password", server.password(), "remote")
        assert made.code == 0 and "remote: through" in made.stderr, made.stderr
    else:
        Knit.open().close()  # KNIT_HOME's catalog, as `knit init` or an Airflow would have made it
    yield invoke
    if mode == "remote":
        assert not (tmp_path / "home").exists(), "the remote mode never opens a local catalog"


@pytest.fixture
def cli_catalog(request: pytest.FixtureRequest, mode: str, cli) -> Iterator[Knit]:
    """The catalog ``cli``'s commands work on, opened directly (to play a runner): KNIT_HOME's or the server's."""
    if mode == "remote":
        yield request.getfixturevalue("server_knit")
        return
    with Knit.open() as local:
        yield local


@pytest.fixture
def folder(workdir: Path):
    """``folder("name", {"f.txt": "x"})`` -> a directory under the working directory."""

    def make(name: str, files: dict[str, str] | None = None) -> Path:
        root = workdir / name
        root.mkdir(parents=True)
        for rel, content in (files or {"file.txt": name}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(content)
        return root

    return make
