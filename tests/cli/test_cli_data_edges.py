"""``knit data push`` / ``pull`` at their edges: one line naming what and where, exit 1, and nothing left behind.

Every test runs in both modes (``cli``). What only a user without root's privileges meets (an unreadable file, an
unwritable destination) runs the real ``knit`` as ``nobody`` (``as_nobody``).
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
from pathlib import Path

import pytest
from as_nobody import nobody_shell
from cli_remote import USER

from knit_provider.service import Knit
from knit_provider.service import data as data_service

pytestmark = pytest.mark.reliability


def one_line(result) -> str:
    """The error: the one line after the progress lines (``[i/n] sending...``), and nothing else."""
    assert result.code == 1, (result.code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("[") for line in lines[:-1]) and "Traceback" not in result.stderr, result.stderr
    assert lines[-1].startswith("knit: "), result.stderr
    return lines[-1]


def nothing_kept(knit: Knit) -> None:
    assert data_service.find(knit) == []
    assert [p.name for p in knit.store.root.iterdir() if not p.name.startswith(".")] == []
    staging = knit.store.root / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []


# ---- push ----------------------------------------------------------------------------------------------------


def test_pushing_a_file_or_a_missing_path_is_one_line(cli, folder, workdir: Path) -> None:
    (workdir / "plain.txt").write_text("not a directory")
    as_file = one_line(cli("data", "push", "-t", "a:b", "plain.txt"))
    assert "not a directory: plain.txt" in as_file
    missing = one_line(cli("data", "push", "-t", "a:b", "nowhere"))
    assert "no such directory: nowhere" in missing


def test_several_directories_are_checked_before_anything_is_sent(cli, cli_catalog, folder, workdir) -> None:
    folder("good")
    bad = folder("bad")
    os.symlink("/etc/passwd", bad / "escape")
    refused = one_line(cli("data", "push", "-t", "k:v", "good", "bad"))
    assert "escape" in refused
    nothing_kept(cli_catalog)


class VanishAfterFirstChunk:
    """A progress bar that, at its first report (while the first directory is read), deletes ``victim``."""

    def __init__(self, victim: Path) -> None:
        self.victim = victim

    @contextlib.contextmanager
    def __call__(self, _label, _total):
        def report(_n: int) -> None:
            if self.victim.exists():
                self.victim.unlink()

        yield report


def test_a_failure_mid_way_keeps_none_of_the_directories(cli, cli_catalog, folder, monkeypatch) -> None:
    """The first directory is read completely, then a file of the second vanishes: nothing of the command
    remains, in the catalog or the store (the local mode has copied the first one already)."""
    folder("first", {"big.bin": "x" * (3 << 20)})
    second = folder("second", {"sub/doomed.txt": "here when checked"})
    hook = VanishAfterFirstChunk(second / "sub" / "doomed.txt")
    monkeypatch.setattr("knit_provider.cli.data_cmds.byte_progress", hook)
    failed = one_line(cli("data", "push", "-t", "k:v", "first", "second"))
    assert "second/sub/doomed.txt vanished while it was being pushed" in failed
    nothing_kept(cli_catalog)


def test_push_help_states_the_all_or_nothing_rule(cli) -> None:
    shown = cli("data", "push", "--help")
    assert "all or nothing" in shown.stdout and "none of them is kept" in shown.stdout


# ---- pull ----------------------------------------------------------------------------------------------------


def pushed(cli, folder, files=None) -> str:
    folder("d", files or {"x/y.txt": "hello"})
    result = cli("data", "push", "-t", "a:1", "d")
    assert result.code == 0, result.stderr
    return result.json()["knitId"]


def test_pull_into_a_file_is_one_line(cli, folder, workdir: Path) -> None:
    knit_id = pushed(cli, folder)
    (workdir / "afile").write_text("mine")
    for extract in ([], ["-x"]):
        refused = one_line(cli("data", "pull", *extract, knit_id, "afile"))
        assert "afile is not a directory" in refused
    assert (workdir / "afile").read_text() == "mine"


def test_pull_never_overwrites_without_force(cli, folder, workdir: Path) -> None:
    knit_id = pushed(cli, folder)
    (workdir / "out").mkdir()
    existing = workdir / "out" / f"{knit_id}.tar.gz"
    existing.write_text("my own file")
    refused = one_line(cli("data", "pull", knit_id, "out"))
    assert str(Path("out") / f"{knit_id}.tar.gz") in refused and "--force" in refused
    assert existing.read_text() == "my own file"
    assert cli("data", "pull", "--force", knit_id, "out").code == 0
    with tarfile.open(existing) as tar:
        assert tar.extractfile("x/y.txt").read() == b"hello"
    assert sorted(p.name for p in (workdir / "out").iterdir()) == [existing.name]


def test_pull_x_into_an_existing_directory_needs_force(cli, folder, workdir: Path) -> None:
    knit_id = pushed(cli, folder)
    mine = workdir / "out" / knit_id
    mine.mkdir(parents=True)
    (mine / "keep.txt").write_text("mine")
    refused = one_line(cli("data", "pull", "-x", knit_id, "out"))
    assert str(Path("out") / knit_id) in refused and "already exists" in refused
    assert (mine / "keep.txt").read_text() == "mine"
    assert cli("data", "pull", "-x", "--force", knit_id, "out").code == 0
    assert (mine / "x" / "y.txt").read_text() == "hello" and not (mine / "keep.txt").exists()
    assert sorted(p.name for p in (workdir / "out").iterdir()) == [knit_id]


# ---- as an unprivileged user -----------------------------------------------------------------------------------


@pytest.fixture
def nobody(request: pytest.FixtureRequest, mode: str):
    remote = None
    if mode == "remote":
        from cli_remote import empty_catalog

        server = request.getfixturevalue("knit_server")
        empty_catalog(request.getfixturevalue("server_knit"))
        remote = (server.url, USER, server.password())
    with nobody_shell(remote) as shell:
        yield shell


def test_an_unreadable_source_file_is_one_line_and_nothing_is_kept(nobody, mode, request) -> None:
    nobody.mkdir("d")
    nobody.write("d/ok.txt", "fine")
    nobody.write("d/secret.txt", "private", mode=0o000)
    os.chown(nobody.root / "d" / "secret.txt", 0, 0)  # root's, unreadable to nobody
    refused = one_line(nobody.run("data", "push", "-t", "a:b", "d"))
    assert "cannot read d/secret.txt: permission denied" in refused
    found = nobody.run("data", "find")
    assert found.code == 0 and found.stdout.strip() == "[]", found.stderr


def test_pull_into_an_unwritable_place_is_one_line(nobody) -> None:
    nobody.mkdir("d")
    nobody.write("d/f.txt", "content")
    made = nobody.run("data", "push", "-t", "a:b", "d")
    assert made.code == 0, made.stderr
    knit_id = __import__("json").loads(made.stdout)["knitId"]
    locked = nobody.mkdir("locked", owner=0, mode=0o755)  # root's: nobody may not write in it
    for args, where in (
        ([knit_id, "locked"], f"cannot write locked/{knit_id}.tar.gz: Permission denied"),
        (["-x", knit_id, "locked"], f"cannot write locked/{knit_id}: Permission denied"),
        ([knit_id, "locked/inner"], "cannot create locked/inner: Permission denied"),
    ):
        refused = one_line(nobody.run("data", "pull", *args))
        assert where in refused, refused
    assert list(locked.iterdir()) == []


def test_the_remote_pull_of_a_tar_into_stdout_still_works(cli, folder) -> None:
    """The control for the edges above: the plain cases still work."""
    knit_id = pushed(cli, folder)
    streamed = cli("data", "pull", knit_id, "-")
    with tarfile.open(fileobj=io.BytesIO(streamed.stdout_bytes), mode="r:gz") as tar:
        assert tar.extractfile("x/y.txt").read() == b"hello"
