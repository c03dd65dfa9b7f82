"""The local Data store on a real filesystem: round trips, refusals, atomicity, streaming and checksums."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from knit_provider.core.errors import Conflict, InvalidInput, NotFound
from knit_provider.storage import ContentInfo, LocalStore
from knit_provider.storage.safety import check_link_target, check_member_name

MiB = 1 << 20


# ---- helpers ---------------------------------------------------------------------------------------------------


def make_tree(base: Path) -> Path:
    """A small but varied tree: nested dirs, an empty dir, an executable, a unicode name, in-tree symlinks."""
    (base / "sub" / "deeper").mkdir(parents=True)
    (base / "empty").mkdir()
    (base / "a.txt").write_text("alpha\n")
    (base / "sub" / "b.bin").write_bytes(os.urandom(3 * MiB + 17))
    (base / "sub" / "deeper" / "c.csv").write_text("id,label\n1,7\n")
    (base / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (base / "run.sh").chmod(0o755)
    (base / "ünïcode name.txt").write_text("ok")
    os.symlink("a.txt", base / "link-to-a")
    os.symlink("../a.txt", base / "sub" / "up-link")
    os.symlink("sub/deeper", base / "dir-link")
    return base


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Everything that matters about a tree, comparable with ``==``."""
    out: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                out[rel] = ("l", os.readlink(full))
            elif full.is_dir():
                out[rel] = ("d", "")
            else:
                out[rel] = ("f", full.read_bytes())
    return out


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes | None], gz: bool = True) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def dir_to_tar(src: Path, *, gz: bool = True, arcname: str = ".") -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        tar.add(src, arcname=arcname)
    buf.seek(0)
    return buf


def assert_nothing_left(store: LocalStore, knit_id: str) -> None:
    assert not store.exists(knit_id)
    assert not os.path.lexists(store.root / knit_id)
    staging = store.root / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


# ---- round trips -----------------------------------------------------------------------------------------------


def test_dir_to_store_to_targz_to_store_round_trip(store: LocalStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    seen: list[int] = []
    info = store.import_dir(src, "d1", progress=seen.append)
    assert isinstance(info, ContentInfo) and info.checksum.startswith("sha256:")
    assert info.size == sum(len(v) for k, v in snapshot(src).values() if k == "f")
    assert info.files == 8  # 5 regular files + 3 symlinks
    assert sum(seen) == info.size
    assert snapshot(store.path("d1")) == snapshot(src)
    assert os.access(store.path("d1") / "run.sh", os.X_OK)
    assert store.measure("d1") == info

    for gz in (True, False):
        out = io.BytesIO()
        exported: list[int] = []
        store.export_tar("d1", out, gzip=gz, progress=exported.append)
        assert sum(exported) == info.size
        assert (out.getvalue()[:2] == b"\x1f\x8b") is gz
        out.seek(0)
        with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
            names = tar.getnames()
            assert "link-to-a" in names and all(not n.startswith(("/", "./")) for n in names)
            assert tar.getmember("link-to-a").issym()
        knit_id = f"back-{gz}"
        again = store.import_tar(out, knit_id)
        assert again == info
        assert snapshot(store.path(knit_id)) == snapshot(src)


def test_checksum_is_independent_of_how_the_tree_was_packed(store: LocalStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    from_dir = store.import_dir(src, "dir")
    assert store.import_tar(dir_to_tar(src, arcname="."), "dot").checksum == from_dir.checksum
    assert store.import_tar(dir_to_tar(src, gz=False, arcname="./"), "plain").checksum == from_dir.checksum
    # members only, no directory entries: directories are created implicitly, same tree, same checksum
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel, (kind, _) in sorted(snapshot(src).items(), reverse=True):
            if kind != "d" or rel == "empty":
                tar.add(src / rel, arcname=rel, recursive=False)
    buf.seek(0)
    assert store.import_tar(buf, "implicit").checksum == from_dir.checksum


def test_checksum_stable_and_sensitive(store: LocalStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    first = store.import_dir(src, "one")
    assert store.import_dir(src, "two").checksum == first.checksum
    data = bytearray((src / "sub" / "b.bin").read_bytes())
    data[MiB + 5] ^= 0x01
    (src / "sub" / "b.bin").write_bytes(bytes(data))
    changed = store.import_dir(src, "three")
    assert changed.checksum != first.checksum and changed.size == first.size
    os.rename(src / "a.txt", src / "A.txt")
    assert store.import_dir(src, "renamed").checksum != changed.checksum
    os.unlink(src / "link-to-a")
    os.symlink("A.txt", src / "link-to-a")
    assert store.import_dir(src, "retargeted").checksum != changed.checksum
    (src / "empty" / "new").mkdir()
    assert store.import_dir(src, "newdir").checksum != store.measure("retargeted").checksum


def test_empty_upload(store: LocalStore, tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    info = store.import_dir(tmp_path / "nothing", "e")
    assert (info.size, info.files) == (0, 0)
    assert store.import_tar(tar_bytes(), "e2").checksum == info.checksum


# ---- refusals ----------------------------------------------------------------------------------------------------


BAD_TARS: dict[str, list[tuple[tarfile.TarInfo, bytes | None]]] = {
    "dotdot": [(member("ok.txt"), b"fine"), (member("../x"), b"escape")],
    "nested-dotdot": [(member("a/../../x"), b"escape")],
    "absolute": [(member("/etc/passwd"), b"root:x:0:0")],
    "backslash": [(member("..\\x"), b"escape on windows")],
    "symlink-out": [(member("d", tarfile.DIRTYPE), None), (member("d/etc", tarfile.SYMTYPE, "../../etc"), None)],
    "symlink-absolute": [(member("passwd", tarfile.SYMTYPE, "/etc/passwd"), None)],
    "symlink-chain": [(member("x", tarfile.SYMTYPE, "."), None), (member("l", tarfile.SYMTYPE, "x/.."), None)],
    "through-symlink": [
        (member("real", tarfile.DIRTYPE), None),
        (member("l", tarfile.SYMTYPE, "real"), None),
        (member("l/f"), b"written through a link"),
    ],
    "chardev": [(member("null", tarfile.CHRTYPE), None)],
    "blockdev": [(member("sda", tarfile.BLKTYPE), None)],
    "fifo": [(member("pipe", tarfile.FIFOTYPE), None)],
    "hardlink-out": [(member("ok.txt"), b"x"), (member("h", tarfile.LNKTYPE, "../outside.txt"), None)],
    "hardlink-absolute": [(member("h", tarfile.LNKTYPE, "/etc/shadow"), None)],
    "hardlink-unknown": [(member("h", tarfile.LNKTYPE, "not-in-archive"), None)],
    "duplicate": [(member("f"), b"one"), (member("f"), b"two")],
    "file-as-root": [(member("."), b"x")],
}


@pytest.mark.parametrize("case", sorted(BAD_TARS))
def test_bad_tar_is_refused_and_leaves_nothing(store: LocalStore, case: str) -> None:
    members = BAD_TARS[case]
    with pytest.raises(InvalidInput) as err:
        store.import_tar(tar_bytes(*members), "bad")
    assert repr(members[-1][0].name) in str(err.value)  # the message names the offending entry
    assert_nothing_left(store, "bad")
    assert list(store.root.iterdir()) in ([], [store.root / ".staging"])


def test_hardlink_to_earlier_member_is_accepted(store: LocalStore) -> None:
    info = store.import_tar(tar_bytes((member("f"), b"same"), (member("g", tarfile.LNKTYPE, "./f"), None)), "h")
    assert (store.path("h") / "g").read_bytes() == b"same"
    assert (info.files, info.size) == (2, 8)
    assert store.measure("h") == info


@pytest.mark.parametrize("mode", ["w:bz2", "w:xz", "w"])
def test_other_compressions_are_detected(store: LocalStore, tmp_path: Path, mode: str) -> None:
    src = make_tree(tmp_path / "src")
    expected = store.import_dir(src, "ref")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        tar.add(src, arcname=".")
    buf.seek(0)
    assert store.import_tar(buf, "other") == expected


def test_hard_links_survive_export_and_reimport(store: LocalStore) -> None:
    info = store.import_tar(tar_bytes((member("f"), b"same"), (member("g", tarfile.LNKTYPE, "f"), None)), "h1")
    out = io.BytesIO()
    store.export_tar("h1", out)
    out.seek(0)
    assert store.import_tar(out, "h2") == info


@pytest.mark.parametrize("blob", [b"", b"\x1f\x8b this is not really gzip" * 100, b"plain garbage" * 100])
def test_unreadable_uploads_are_refused(store: LocalStore, blob: bytes) -> None:
    with pytest.raises(InvalidInput, match="not a readable tar"):
        store.import_tar(io.BytesIO(blob), "junk")
    assert_nothing_left(store, "junk")


def test_truncated_upload_is_refused(store: LocalStore, tmp_path: Path) -> None:
    data = dir_to_tar(make_tree(tmp_path / "src")).getvalue()
    with pytest.raises(InvalidInput, match="not a readable tar"):
        store.import_tar(io.BytesIO(data[: len(data) // 2]), "cut")
    assert_nothing_left(store, "cut")


def _symlink_out(src: Path) -> None:
    (src / "d").mkdir()
    os.symlink("../../etc", src / "d" / "etc")


def _symlink_abs(src: Path) -> None:
    os.symlink("/etc/passwd", src / "passwd")


def _symlink_chain(src: Path) -> None:
    os.symlink(".", src / "x")
    os.symlink("x/..", src / "l")


def _fifo(src: Path) -> None:
    os.mkfifo(src / "pipe")


def _socket(src: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock"))
    sock.close()


def _backslash(src: Path) -> None:
    (src / "..\\x").write_text("a name a Windows extractor would follow upwards")


@pytest.mark.parametrize(
    "plant", [_symlink_out, _symlink_abs, _symlink_chain, _fifo, _socket, _backslash], ids=lambda f: f.__name__[1:]
)
def test_bad_dir_is_refused_and_leaves_nothing(
    store: LocalStore, tmp_path: Path, plant: Callable[[Path], None]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "fine.txt").write_text("fine")
    plant(src)
    copied: list[int] = []
    with pytest.raises(InvalidInput, match="upload entry"):
        store.import_dir(src, "bad", progress=copied.append)
    assert copied == []  # the whole tree is validated before anything is copied
    assert_nothing_left(store, "bad")


def test_symlinks_inside_the_tree_are_kept(store: LocalStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    store.import_dir(src, "s")
    stored = store.path("s")
    assert os.readlink(stored / "sub" / "up-link") == "../a.txt"
    assert (stored / "dir-link" / "c.csv").read_text().startswith("id,label")
    tar = tar_bytes((member("t", tarfile.DIRTYPE), None), (member("t/l", tarfile.SYMTYPE, "../t"), None))
    store.import_tar(tar, "t")
    assert os.readlink(store.path("t") / "t" / "l") == "../t"


def test_hard_links_in_a_directory_are_copied_as_files(store: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's own file")
    src = tmp_path / "src"
    src.mkdir()
    os.link(outside, src / "hard")
    store.import_dir(src, "hl")
    copy = store.path("hl") / "hard"
    assert copy.read_text() == "the user's own file" and copy.stat().st_ino != outside.stat().st_ino


def test_name_rules() -> None:
    assert check_member_name("./a//b/./c/") == "a/b/c"
    assert check_member_name("./") == "." and check_member_name(".") == "."
    assert check_member_name("dir\\file") == "dir\\file"  # a legal POSIX name, kept as is
    for bad in ["", "/abs", "a/../../b", "..", "x/..", "a\0b", "..\\x", "a\\..\\..\\b", "\\etc", "C:\\x"]:
        with pytest.raises(InvalidInput):
            check_member_name(bad)
    check_link_target("a/b/l", "../c")
    check_link_target("l", "sub/../x")
    for target in ["", "/etc", "..", "../x", "a/../../x", "..\\x"]:
        with pytest.raises(InvalidInput):
            check_link_target("l", target)


# ---- atomicity ---------------------------------------------------------------------------------------------------


class Interrupt:
    """A progress callback that presses Ctrl-C after some bytes went through."""

    def __init__(self, after: int) -> None:
        self.after, self.seen = after, 0

    def __call__(self, n: int) -> None:
        self.seen += n
        if self.seen > self.after:
            raise KeyboardInterrupt


def test_interrupted_dir_import_leaves_nothing(store: LocalStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    with pytest.raises(KeyboardInterrupt):
        store.import_dir(src, "cut", progress=Interrupt(MiB))
    assert_nothing_left(store, "cut")


def test_interrupted_tar_import_leaves_nothing(store: LocalStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    with pytest.raises(KeyboardInterrupt):
        store.import_tar(dir_to_tar(src), "cut", progress=Interrupt(MiB))
    assert_nothing_left(store, "cut")


def test_existing_id_and_bad_ids(store: LocalStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    store.import_dir(src, "taken")
    with pytest.raises(Conflict):
        store.import_dir(src, "taken")
    with pytest.raises(Conflict):
        store.import_tar(dir_to_tar(src), "taken")
    for bad in ["", ".staging", "..", "a/b", "x\0", "/abs"]:
        with pytest.raises(InvalidInput, match="knit_id"):
            store.path(bad)
    with pytest.raises(InvalidInput, match="src"):
        store.import_dir(src / "a.txt", "notadir")


# ---- lifecycle helpers -------------------------------------------------------------------------------------------


def test_create_path_exists_delete(store: LocalStore, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        store.path("out1")
    assert not store.exists("out1")
    out = store.create_empty("out1")
    assert store.create_empty("out1") == out == store.path("out1") and store.exists("out1")
    assert list(out.iterdir()) == []
    (out / "model").mkdir()
    (out / "model" / "w.bin").write_bytes(b"\0" * 10)
    (out / "model").chmod(0o500)  # a Run may leave read-only directories behind
    info = store.measure("out1")
    assert (info.size, info.files) == (10, 1)
    store.delete("out1")
    store.delete("out1")
    assert not store.exists("out1")
    assert_nothing_left(store, "out1")


def test_extract_to(store: LocalStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    store.import_dir(src, "x1")
    dest = tmp_path / "pulled"
    where = store.extract_to("x1", dest)
    assert where == dest / "x1"
    assert snapshot(where) == snapshot(src)
    assert [p.name for p in dest.iterdir()] == ["x1"]
    with pytest.raises(Conflict):
        store.extract_to("x1", dest)
    with pytest.raises(NotFound):
        store.extract_to("missing", dest)


def test_gc_staging_removes_only_old_leftovers(store: LocalStore) -> None:
    staging = store.root / ".staging"
    old, fresh = staging / "tmpold", staging / "tmpfresh"
    (old / "half").mkdir(parents=True)
    (old / "half" / "f").write_text("partial")
    fresh.mkdir()
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert store.gc_staging(older_than_s=3600) == 1
    assert not old.exists() and fresh.exists()


# ---- streaming -----------------------------------------------------------------------------------------------------

_MEMORY_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from knit_provider.storage import LocalStore

    src, root, small = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    store = LocalStore(root)
    # warm up every code path on a small tree so lazily allocated buffers are in the baseline
    store.import_dir(small, "warm")
    with open(root.parent / "warm.tgz", "wb") as f:
        store.export_tar("warm", f)
    with open(root.parent / "warm.tgz", "rb") as f:
        store.import_tar(f, "warm2")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    info = store.import_dir(src, "big")
    with open(root.parent / "big.tgz", "wb") as f:
        store.export_tar("big", f)
    with open(root.parent / "big.tgz", "rb") as f:
        again = store.import_tar(f, "big2")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_kib": after - before, "size": info.size, "same": info == again}))
    """
)


@pytest.mark.slow
def test_streaming_keeps_memory_bounded(tmp_path: Path) -> None:
    src = tmp_path / "big"
    src.mkdir()
    with open(src / "zeros.bin", "wb") as f:
        f.truncate(200 * MiB)  # sparse on disk, 200 MiB of zeros when read
    small = tmp_path / "small"
    small.mkdir()
    (small / "s.txt").write_text("warm")
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(src), str(tmp_path / "store"), str(small)],
        capture_output=True,
        text=True,
        check=False,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["size"] == 200 * MiB and figures["same"]
    assert figures["growth_kib"] * 1024 < 64 * MiB, figures
