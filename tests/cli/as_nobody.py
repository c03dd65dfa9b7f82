"""``knit`` as an unprivileged user, for what root cannot see: unreadable files, unwritable directories.

The tests run as root, for whom every file is readable and every directory writable. These run the real ``knit``
console script in a subprocess as ``nobody`` (``setpriv``), in a world-writable workspace outside pytest's private
temporary directories, against the local catalog of that workspace or the remote test server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import knit_provider
from knit_provider.service import Knit

NOBODY = 65534
KNIT = str(Path(sys.executable).with_name("knit"))


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@dataclass
class NobodyShell:
    """A workspace owned by ``nobody``, and ``run(*args)`` executing ``knit`` there as ``nobody``."""

    root: Path
    env: dict[str, str]

    def mkdir(self, name: str, *, owner: int = NOBODY, mode: int = 0o755) -> Path:
        path = self.root / name
        path.mkdir(parents=True)
        os.chown(path, owner, owner)
        path.chmod(mode)
        return path

    def write(self, rel: str, content: str, *, mode: int = 0o644) -> Path:
        path = self.root / rel
        path.write_text(content)
        os.chown(path, NOBODY, NOBODY)
        path.chmod(mode)
        return path

    def run(self, *args: str) -> Outcome:
        done = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", KNIT, *args],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        return Outcome(done.returncode, done.stdout, done.stderr)


@contextmanager
def _reachable_by_nobody(*paths: Path) -> Iterator[None]:
    """Give ``nobody`` search permission (o+x, never read) on every ancestor of ``paths`` that lacks it, restoring
    the modes afterwards: a checkout cloned under a private directory (``mktemp -d`` makes it 0700) would otherwise
    keep ``nobody`` from the virtualenv's ``knit`` and the package it runs."""
    changed: dict[Path, int] = {}
    for path in paths:
        for directory in path.absolute().parents:
            mode = directory.stat().st_mode
            if directory not in changed and not mode & 0o001:
                changed[directory] = mode
                directory.chmod(mode | 0o001)
    try:
        yield
    finally:
        for directory, mode in changed.items():
            directory.chmod(mode)


@contextmanager
def nobody_shell(remote: tuple[str, str, str] | None = None) -> Iterator[NobodyShell]:
    """``remote`` = (url, username, password) of the test api-server; None: a local catalog in the workspace."""
    root = Path(tempfile.mkdtemp(prefix="knit-nobody-", dir="/tmp"))
    os.chown(root, NOBODY, NOBODY)
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "KNIT_PROFILE_STORE": str(root / ".profiles")}
    if remote is None:
        env["KNIT_HOME"] = str(root / "home")
        Knit.open(home=root / "home").close()  # the CLI refuses a catalog that does not exist (knit init makes it)
        for path in [root / "home", *(root / "home").rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
    else:
        env |= {"KNIT_REMOTE_URL": remote[0], "KNIT_AIRFLOW_USERNAME": remote[1], "KNIT_AIRFLOW_PASSWORD": remote[2]}
    try:
        with _reachable_by_nobody(Path(sys.prefix) / "bin", Path(knit_provider.__file__)):
            yield NobodyShell(root, env)
    finally:
        shutil.rmtree(root, ignore_errors=True)
