"""Drive ``knit`` as a user does: a fresh KNIT_HOME, a working directory, stdout/stderr/exit code apart."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from knit_provider.cli.main import knit


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("KNIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KNIT_PROFILE_STORE", str(tmp_path / "profiles"))
    monkeypatch.delenv("KNIT_CATALOG_URL", raising=False)
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def cli(workdir: Path):
    """``cli("data", "find", "-t", "a:b")`` -> Result; ``input`` feeds stdin."""
    runner = CliRunner()

    def run(*args: str, input: bytes | str | None = None) -> Result:
        outcome = runner.invoke(knit, list(args), input=input, catch_exceptions=False)
        return Result(
            outcome.exit_code, outcome.stdout_bytes.decode(errors="replace"), outcome.stderr, outcome.stdout_bytes
        )

    return run


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
