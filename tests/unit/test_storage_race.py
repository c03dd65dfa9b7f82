"""A directory swapped for a symlink while a push reads it: no byte from outside the tree is ever stored.

The push checks the tree, then copies it (local mode) or packs it (remote mode). A subdirectory already checked
can be replaced by a symlink to ``/etc`` before its files are read; reading them by path would then store the
host's files. Deterministic cases swap at a known point (the first progress callback, i.e. while the first file
is being copied); the threaded cases flip the directory back and forth during many pushes.
"""

from __future__ import annotations

import io
import os
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.remote.archive import pack_dir
from knit_provider.storage import LocalStore

pytestmark = pytest.mark.reliability

MiB = 1 << 20
SECRET = b"the-host's-secret-never-to-be-stored"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the pushed tree, holding files with the names the tree's subdirectory has."""
    where = tmp_path / "outside"
    where.mkdir()
    (where / "passwd").write_bytes(SECRET)
    return where


OWN = b"the user's own file"


def make_source(tmp_path: Path, *, later_dir: bool = False) -> Path:
    """``a.bin`` (copied first: its progress callbacks are the hook point) and ``sub/passwd``; with ``later_dir``
    a directory after ``sub``, so ``sub`` is opened anew (not reused from the walk) when its files are read."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.bin").write_bytes(b"\1" * (2 * MiB))
    (src / "sub" / "passwd").write_bytes(OWN)
    if later_dir:
        (src / "zz").mkdir()
        (src / "zz" / "z.txt").write_text("z")
    return src


def swap_once(src: Path, target: Path) -> Callable[[int], None]:
    """A progress callback that, on its first call, replaces ``src/sub`` by a symlink to ``target``."""
    done: list[bool] = []

    def hook(_n: int) -> None:
        if not done:
            done.append(True)
            os.rename(src / "sub", src / "sub.real")
            os.symlink(target, src / "sub")

    return hook


def stored_bytes(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def packed_bytes(packed) -> list[bytes]:
    with tarfile.open(fileobj=io.BytesIO(packed.read()), mode="r:gz") as tar:
        return [tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()]


def outside_bytes(target: Path) -> set[bytes]:
    return {p.read_bytes() for p in target.iterdir() if p.is_file() and os.access(p, os.R_OK)}


TARGETS = pytest.mark.parametrize("target", ["outside", "/etc"])
LAYOUTS = pytest.mark.parametrize("later_dir", [False, True], ids=["dir-reused", "dir-reopened"])


@TARGETS
@LAYOUTS
def test_local_push_never_reads_through_a_swapped_directory(
    tmp_path: Path, outside: Path, target: str, later_dir: bool
) -> None:
    """Either the copy is refused (one line naming ``sub``, nothing kept) or it stored the tree the walk saw."""
    store = LocalStore(tmp_path / "store")
    src = make_source(tmp_path, later_dir=later_dir)
    link_to = outside if target == "outside" else Path(target)
    try:
        store.import_dir(src, "raced", progress=swap_once(src, link_to))
    except InvalidInput as err:
        assert "sub" in str(err) and "\n" not in str(err)
        assert [p.name for p in store.root.iterdir() if not p.name.startswith(".")] == []
        assert list((store.root / ".staging").iterdir()) == []
        return
    stored = store.path("raced")
    assert (stored / "sub" / "passwd").read_bytes() == OWN
    assert not set(stored_bytes(stored)) & outside_bytes(link_to)


@TARGETS
@LAYOUTS
def test_remote_packing_never_reads_through_a_swapped_directory(
    tmp_path: Path, outside: Path, target: str, later_dir: bool
) -> None:
    src = make_source(tmp_path, later_dir=later_dir)
    link_to = outside if target == "outside" else Path(target)
    try:
        packed, _digest = pack_dir(src, progress=swap_once(src, link_to))
    except InvalidInput as err:
        assert "sub" in str(err) and "\n" not in str(err)
        return
    with packed:
        assert not set(packed_bytes(packed)) & outside_bytes(link_to)


def test_a_retargeted_link_is_refused(tmp_path: Path) -> None:
    """A symlink checked as pointing inside, retargeted outside before it is recreated."""
    store = LocalStore(tmp_path / "store")
    src = make_source(tmp_path)
    os.symlink("a.bin", src / "z-link")

    def retarget(_n: int) -> None:
        if os.readlink(src / "z-link") == "a.bin":
            os.unlink(src / "z-link")
            os.symlink("/etc/passwd", src / "z-link")

    with pytest.raises(InvalidInput, match="z-link"):
        store.import_dir(src, "raced", progress=retarget)


class Flipper(threading.Thread):
    """Swaps ``src/sub`` between the real directory and a symlink to ``target`` until stopped."""

    def __init__(self, src: Path, target: Path) -> None:
        super().__init__(daemon=True)
        self.src, self.target = src, target
        self.stop = threading.Event()
        self.flips = 0

    def run(self) -> None:
        sub, real = self.src / "sub", self.src / "sub.real"
        while not self.stop.is_set():
            os.rename(sub, real)
            os.symlink(self.target, sub)
            os.unlink(sub)
            os.rename(real, sub)
            self.flips += 1


def small_source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    for i in range(20):
        (src / f"f{i:02}").write_bytes(b"x" * 4096)
    (src / "sub" / "passwd").write_bytes(b"the user's own file")
    return src


def test_many_local_pushes_against_a_flipping_directory(tmp_path: Path, outside: Path) -> None:
    store = LocalStore(tmp_path / "store")
    src = small_source(tmp_path)
    flipper = Flipper(src, outside)
    flipper.start()
    outcomes = {"stored": 0, "refused": 0}
    try:
        for i in range(150):
            try:
                store.import_dir(src, f"d{i}")
            except InvalidInput:
                outcomes["refused"] += 1
                continue
            outcomes["stored"] += 1
            assert SECRET not in stored_bytes(store.path(f"d{i}"))
    finally:
        flipper.stop.set()
        flipper.join()
    assert flipper.flips > 0 and sum(outcomes.values()) == 150, outcomes
    for i in range(150):
        if store.exists(f"d{i}"):
            assert SECRET not in stored_bytes(store.path(f"d{i}"))


def test_many_remote_packs_against_a_flipping_directory(tmp_path: Path, outside: Path) -> None:
    src = small_source(tmp_path)
    flipper = Flipper(src, outside)
    flipper.start()
    try:
        for _ in range(150):
            try:
                packed, _digest = pack_dir(src)
            except InvalidInput:
                continue
            with packed:
                assert SECRET not in packed_bytes(packed)
    finally:
        flipper.stop.set()
        flipper.join()
    assert flipper.flips > 0
