"""Data on a real S3 API (the session's moto server on loopback): push, pull, uploads refused whole, damaged
objects refused on the way out, purge, the sweep of what an interrupted import leaves, and checksums equal to
the local store's for the same tree."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from knit_provider.core.errors import Gone, InvalidInput, StoreUnavailable
from knit_provider.service import Knit, StoreSpec, data, doctor
from knit_provider.storage import LocalStore
from knit_provider.storage.object_writer import DataWriter
from knit_provider.storage.objects import ObjectStore
from knit_provider.storage.tree import summarise

pytestmark = pytest.mark.object_store


@pytest.fixture
def knit(s3_url: str, tmp_path: Path):
    with Knit.open(url=f"sqlite:///{tmp_path / 'catalog.db'}", home=tmp_path / "home",
                   store=StoreSpec(url=s3_url)) as opened:  # fmt: skip
        assert isinstance(opened.store, ObjectStore)
        yield opened


def bucket_keys(s3_server, s3_url: str, under: str = "") -> list[str]:
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    return [k.removeprefix(prefix + "/") for k in s3_server.keys(bucket, f"{prefix}/{under}")]


def sample_tree(root: Path) -> Path:
    """Nested directories, an empty one, an executable, a file of several parts, a link, a non-UTF-8 name."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "sub" / "a.txt").write_text("alpha\n")
    (root / "sub" / "deeper" / "b.bin").write_bytes(os.urandom(20_000))
    (root / "big.bin").write_bytes(os.urandom((8 << 20) * 2 + 12345))  # three parts of a multipart upload
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / os.fsdecode(b"caf\xe9.txt")).write_text("latin-1 name")
    os.symlink("sub/a.txt", root / "link")
    return root


def described(root: Path) -> dict[str, tuple]:
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("l", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("d",)
            else:
                found[rel] = ("f", path.read_bytes(), st.st_mode & 0o111 != 0)
    return found


def test_push_then_pull_gives_back_the_tree_with_the_local_stores_checksum(knit, s3_server, s3_url, tmp_path):
    source = sample_tree(tmp_path / "src")
    pushed = data.push_dir(knit, source, ["type:sample"])
    knit_id = pushed["knitId"]
    local = LocalStore(tmp_path / "local").import_dir(source, "same")
    assert knit.store.measure(knit_id) == local == summarise(source)
    keys = bucket_keys(s3_server, s3_url)
    assert f"manifests/{knit_id}.json" in keys
    assert all(k.startswith((f"staging/{knit_id}/", "manifests/")) for k in keys)

    out = data.extract(knit, knit_id, tmp_path / "pulled")
    assert described(out) == described(source)
    archive = io.BytesIO()
    data.export_tar(knit, knit_id, archive)
    archive.seek(0)
    with tarfile.open(fileobj=archive, mode="r:gz") as tar:
        names = {m.name: m for m in tar.getmembers()}
        assert names["link"].issym() and names["link"].linkname == "sub/a.txt"
        assert tar.extractfile(names["sub/a.txt"]).read() == b"alpha\n"  # type: ignore[union-attr]
        assert names["run.sh"].mode & 0o111 and names["empty"].isdir()


def test_a_tar_upload_streams_into_the_store_and_keeps_hard_links(knit, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        one = tarfile.TarInfo("dir/one.txt")
        one.size = 5
        tar.addfile(one, io.BytesIO(b"hello"))
        two = tarfile.TarInfo("two.txt")
        two.type, two.linkname = tarfile.LNKTYPE, "dir/one.txt"
        tar.addfile(two)
    buffer.seek(0)
    pushed = data.push_tar(knit, buffer, ["type:tar"])
    out = data.extract(knit, pushed["knitId"], tmp_path / "out")
    assert (out / "two.txt").read_text() == "hello" and (out / "dir" / "one.txt").read_text() == "hello"
    assert os.stat(out / "two.txt").st_ino == os.stat(out / "dir" / "one.txt").st_ino


def _tar(*members: tuple[str, str, str]) -> io.BytesIO:
    """(name, kind "f"/"l"/"h", content or link target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            if kind == "f":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value.encode()))
            else:
                info.type = tarfile.SYMTYPE if kind == "l" else tarfile.LNKTYPE
                info.linkname = value
                tar.addfile(info)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        ((("ok.txt", "f", "x"), ("../escape.txt", "f", "x")), "'..' component"),
        ((("ok.txt", "f", "x"), ("x", "l", "."), ("l", "l", "x/..")), "resolves outside the upload"),
        ((("a", "l", "/etc"),), "absolute path"),
        ((("h", "h", "nothing-before"),), "not an earlier regular file"),
        ((("d", "l", "."), ("d/f.txt", "f", "x")), "goes through the symlink"),
    ],
    ids=["dotdot", "link-chain", "absolute-link", "hardlink", "through-link"],
)
def test_an_unsafe_upload_is_refused_whole_and_leaves_no_object(knit, s3_server, s3_url, members, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        data.push_tar(knit, _tar(*members), ["type:bad"])
    assert data.find(knit, ["type:bad"]) == []
    assert bucket_keys(s3_server, s3_url) == [], "the staged objects are removed with the refusal"


def test_a_damaged_object_is_refused_on_pull_and_leaves_nothing(knit, s3_server, s3_url, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "data.txt").write_text("the real content")
    knit_id = data.push_dir(knit, source, ["type:x"])["knitId"]
    (key,) = [k for k in bucket_keys(s3_server, s3_url, "staging/") if not k.endswith(".alive")]
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    s3_server.client().put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=b"the fake content")
    with pytest.raises(StoreUnavailable, match="does not match its manifest"):
        data.extract(knit, knit_id, tmp_path / "out")
    assert not (tmp_path / "out" / knit_id).exists() and list((tmp_path / "out").iterdir()) == []
    with pytest.raises(StoreUnavailable, match="does not match its manifest"):
        data.export_tar(knit, knit_id, io.BytesIO())


def test_purge_deletes_the_objects_and_the_manifest(knit, s3_server, s3_url, tmp_path):
    source = sample_tree(tmp_path / "src")
    knit_id = data.push_dir(knit, source, ["type:x"])["knitId"]
    assert bucket_keys(s3_server, s3_url, f"staging/{knit_id}/")
    purged = data.purge(knit, knit_id)
    assert "knit#transient:purged" in purged["tags"]
    assert bucket_keys(s3_server, s3_url) == []
    with pytest.raises(Gone):
        data.extract(knit, knit_id, tmp_path / "out")


def test_an_interrupted_import_is_invisible_and_swept_by_the_doctor(knit, s3_server, s3_url, tmp_path):
    """What a process killed mid-upload leaves: staged objects without a manifest. No Data, no Run; the doctor
    lists it once old enough and removes it. A push killed after its manifest but before its catalog commit leaves
    an orphan manifest, removed the same way."""
    store: ObjectStore = knit.store  # type: ignore[assignment]
    with store.transfers() as transfers:
        writer = DataWriter(store, "killed-mid-upload", transfers)
        writer.add_file("a.txt", io.BytesIO(b"half"), 0o644, 0.0, None)
        transfers.finish()
        writer.close()  # the process dies here: nothing discards
    source = tmp_path / "src"
    source.mkdir()
    (source / "f.txt").write_text("x")
    store.import_dir(source, "committed-not-registered")
    assert data.find(knit, []) == []
    assert not store.exists("killed-mid-upload")

    assert doctor.doctor(knit, older_than="1h")["findings"] == [], "nothing is old enough yet"
    report = doctor.doctor(knit, fix=True, older_than="0s")
    kinds = sorted((f["kind"], f["path"].split("/")[1] if f["kind"] == "staging" else f["path"])
                   for f in report["findings"])  # fmt: skip
    assert kinds == [("data", "manifests/committed-not-registered.json"), ("staging", "killed-mid-upload")]
    assert all(f["removed"] for f in report["findings"])
    assert bucket_keys(s3_server, s3_url) == []


def test_a_registered_data_is_never_swept(knit, s3_server, s3_url, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "f.txt").write_text("x")
    knit_id = data.push_dir(knit, source, ["type:x"])["knitId"]
    report = doctor.doctor(knit, fix=True, older_than="0s")
    assert report["findings"] == []
    assert knit.store.exists(knit_id)
