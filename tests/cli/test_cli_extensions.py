"""CLI extensions as Knitfab v1.1+ has them (issue 12, K14): ``knit NAME ARGS`` runs ``knit-NAME`` from ``PATH``.

``knit`` runs as a real process here: the extension inherits its stdin, stdout and stderr (file descriptors, which
an in-process runner cannot capture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.compat

KNIT = str(Path(sys.executable).with_name("knit"))

#: an extension reporting what it was given, as Knitfab's own test extension does
REPORTER = """#!{python}
import json, os, sys
stdin = sys.stdin.read()
print(json.dumps({{
    "KNIT_PROFILE": os.environ.get("KNIT_PROFILE"),
    "KNIT_PROFILE_STORE": os.environ.get("KNIT_PROFILE_STORE"),
    "KNIT_ENV": os.environ.get("KNIT_ENV"),
    "stdin": stdin,
    "args": sys.argv[1:],
}}))
print("error message", file=sys.stderr)
sys.exit({code})
"""


def install(folder: Path, name: str, code: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / name
    program.write_text(REPORTER.format(python=sys.executable, code=code))
    program.chmod(0o755)
    return program


def knit(workdir: Path, path: list[Path], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": os.pathsep.join([*map(str, path), os.environ["PATH"]])}
    return subprocess.run([KNIT, *args], cwd=workdir, env=env, input=stdin, capture_output=True, text=True, timeout=60)


def test_an_extension_gets_args_stdio_and_knitfabs_variables(workdir: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    install(bin_dir, "knit-report", code=42)
    project = workdir / "project"
    (project / "sub").mkdir(parents=True)
    (project / ".knitprofile").write_text("team\n")
    (project / "knitenv").write_text("tag: [project:p]\n")
    done = knit(project / "sub", [bin_dir], "report", "a", "--help", "-x", "--", "b c", stdin="hello")
    assert done.returncode == 42, done.stderr
    assert done.stderr == "error message\n"
    assert json.loads(done.stdout) == {
        "KNIT_PROFILE": "team",
        "KNIT_PROFILE_STORE": os.environ["KNIT_PROFILE_STORE"],
        "KNIT_ENV": str(project / "knitenv"),
        "stdin": "hello",
        "args": ["a", "--help", "-x", "--", "b c"],
    }


def test_without_a_profile_or_knitenv(workdir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("KNIT_PROFILE_STORE")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    install(tmp_path / "bin", "knit-report")
    done = knit(workdir, [tmp_path / "bin"], "report")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["KNIT_PROFILE"] == "" and seen["args"] == []
    assert seen["KNIT_PROFILE_STORE"] == str(tmp_path / "user" / ".knit" / "profile")
    assert seen["KNIT_ENV"] == str(workdir / "knitenv")


def test_the_first_on_path_wins_built_ins_win_and_help_lists_extensions(workdir: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    install(first, "knit-report", code=3)
    install(second, "knit-report", code=4)
    install(second, "knit-data", code=5)
    install(second, "knit-tool.exe", code=6)
    (second / "knit-not-executable").write_text("#!/bin/sh\nexit 7\n")
    assert knit(workdir, [first, second], "report").returncode == 3
    assert knit(workdir, [second, first], "report").returncode == 4
    assert knit(workdir, [first, second], "tool").returncode == 6, "Knitfab strips .exe, .bat, .cmd, .com"
    built_in = knit(workdir, [second], "data", "--help")
    assert built_in.returncode == 0 and "Data: immutable" in built_in.stdout, "a built-in verb is never shadowed"
    assert knit(workdir, [second], "not-executable").returncode == 2
    listed = knit(workdir, [first, second], "--help")
    assert listed.returncode == 0
    section = "".join(listed.stdout.split("Extensions", 1)[1].split())  # help text wraps long paths
    assert f"report(={first / 'knit-report'})" in section and f"tool(={second / 'knit-tool.exe'})" in section
    assert "not-executable" not in section and "data(=" not in section


def test_an_unknown_name_stays_a_usage_error(workdir: Path, tmp_path: Path) -> None:
    done = knit(workdir, [tmp_path / "empty"], "nosuchverb")
    assert done.returncode == 2 and "No such command 'nosuchverb'" in done.stderr
