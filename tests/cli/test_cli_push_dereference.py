"""``knit data push -L`` (``--dereference``, Knitfab's flag): what symbolic links point to is stored, recursively,
as regular files and directories; loops and dangling links are refused in one line. Without -L a link out of the
tree is refused as before. Both modes (the remote mode packs the tar with the links dereferenced)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.compat


@pytest.fixture
def linked_tree(workdir: Path, folder) -> Path:
    """``d/`` with links to a file and a directory outside it, and a link inside it."""
    outside = folder("outside", {"secret.txt": "outside content", "nested/deep.txt": "deep"})
    tree = folder("d", {"own.txt": "own"})
    os.symlink(outside / "secret.txt", tree / "file-link")
    os.symlink("../outside/nested", tree / "dir-link")
    os.symlink("own.txt", tree / "inner-link")
    return tree


def one_line(result) -> str:
    assert result.code == 1, (result.code, result.stderr)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("knit: ") and "Traceback" not in result.stderr, result.stderr
    return last


def test_without_dereference_a_link_out_is_refused(cli, linked_tree) -> None:
    refused = one_line(cli("data", "push", "-t", "a:b", "d"))
    assert "dir-link" in refused or "file-link" in refused


def test_dereference_stores_the_targets_as_files_and_directories(cli, linked_tree, workdir: Path) -> None:
    pushed = cli("data", "push", "-L", "-t", "a:b", "d")
    assert pushed.code == 0, pushed.stderr
    knit_id = pushed.json()["knitId"]
    assert cli("data", "pull", "-x", knit_id, "out").code == 0
    got = workdir / "out" / knit_id
    for rel, content in {
        "file-link": "outside content",
        "dir-link/deep.txt": "deep",
        "inner-link": "own",
        "own.txt": "own",
    }.items():
        assert not (got / rel).is_symlink() and (got / rel).read_text() == content, rel
    assert (got / "dir-link").is_dir() and not (got / "dir-link").is_symlink()
    assert not any(p.is_symlink() for p in got.rglob("*"))


def test_the_long_flag_works_too(cli, linked_tree) -> None:
    assert cli("data", "push", "--dereference", "-t", "a:b", "d").code == 0


def test_a_loop_is_refused_in_one_line(cli, folder, cli_catalog) -> None:
    tree = folder("loopy", {"a/f.txt": "x"})
    os.symlink("..", tree / "a" / "back-up")
    refused = one_line(cli("data", "push", "-L", "-t", "a:b", "loopy"))
    assert "a/back-up" in refused and "loop" in refused
    assert cli("data", "find", "-t", "a:b").json() == []


def test_a_self_loop_and_a_dangling_link_are_refused(cli, folder) -> None:
    tree = folder("selfish")
    os.symlink("me", tree / "me")
    assert "loop" in one_line(cli("data", "push", "-L", "-t", "a:b", "selfish"))
    dangling = folder("dangling")
    os.symlink("nowhere", dangling / "gone")
    refused = one_line(cli("data", "push", "-L", "-t", "a:b", "dangling"))
    assert "'gone'" in refused and "does not exist" in refused
