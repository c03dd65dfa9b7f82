"""``POST /knit/api/data`` and ``/data/batch`` at their edges: incomplete archives, several Data at once."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

import pytest
from api_helpers import stored_ids

from knit_provider.service import data

pytestmark = pytest.mark.reliability


def two_files_cut_after_the_first() -> bytes:
    """A tar of two files cut exactly at the second header (a file boundary), then gzipped properly."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in (("first.txt", b"1" * 700), ("second.txt", b"2" * 10)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    whole = buf.getvalue()
    with tarfile.open(fileobj=io.BytesIO(whole)) as tar:
        second = tar.getmember("second.txt").offset
    return gzip.compress(whole[:second])


def test_a_cut_upload_without_checksum_is_refused_and_leaves_nothing(api, api_knit):
    before = stored_ids(api_knit)
    reply = api.post("/api/data", params={"tag": "cut:yes"}, content=two_files_cut_after_the_first())
    assert reply.status_code == 400, reply.text
    error = reply.json()
    assert error["type"] == "InvalidInput" and error["field"] == "upload"
    assert "not a complete tar archive" in error["message"] and "nothing was kept" in error["message"]
    assert data.find(api_knit, ["cut:yes"]) == [] and stored_ids(api_knit) == before
    assert list((api_knit.store.root / ".staging").iterdir()) == []


def parts_body(*parts: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for index, files in enumerate(parts):
            for name, content in files.items():
                info = tarfile.TarInfo(f"{index}/{name}")
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def test_a_batch_upload_makes_several_data_in_part_order(api, api_knit):
    body = parts_body({"a.txt": b"A"}, {"b.txt": b"B"})
    digest = hashlib.sha256(body).hexdigest()
    reply = api.post(
        "/api/data/batch",
        params={"tag": "k:v", "parts": 2, "name": ["one", ""]},
        content=body,
        headers={"X-Checksum-Sha256": digest},
    )
    assert reply.status_code == 200, reply.text
    first, second = reply.json()
    assert "name:one" in first["tags"] and not any(t.startswith("name:") for t in second["tags"])
    assert (api_knit.store.path(first["knitId"]) / "a.txt").read_bytes() == b"A"
    assert (api_knit.store.path(second["knitId"]) / "b.txt").read_bytes() == b"B"


def test_a_batch_is_refused_whole(api, api_knit):
    before = stored_ids(api_knit)
    three = parts_body({"a.txt": b"A"}, {"b.txt": b"B"}, {"c.txt": b"C"})
    reply = api.post("/api/data/batch", params={"tag": "k:v", "parts": 2}, content=three)
    assert reply.status_code == 400 and "only the directories 0 to 1" in reply.json()["message"], reply.text
    wrong_names = api.post("/api/data/batch", params={"parts": 2, "name": ["x"]}, content=three)
    assert wrong_names.status_code == 400 and wrong_names.json()["field"] == "name"
    mismatch = api.post("/api/data/batch", params={"parts": 3}, content=three, headers={"X-Checksum-Sha256": "0" * 64})
    assert mismatch.status_code == 400 and "checksum mismatch" in mismatch.json()["message"]
    assert data.find(api_knit, ["k:v"]) == [] and stored_ids(api_knit) == before


# ---- the upload quota ([knit] max_upload_bytes) ----------------------------------------------------------------


@pytest.fixture
def limit_of(knit_app):
    """``limit_of(n)``: the routes see ``[knit] max_upload_bytes = n`` for this test."""
    from knit_provider.api.rest.common import upload_limit

    app = knit_app.routes[-1].app
    yield lambda n: app.dependency_overrides.__setitem__(upload_limit, lambda: n)
    app.dependency_overrides.pop(upload_limit, None)


def zeros_tar_gz(files: int, size: int) -> bytes:
    """``files`` files of ``size`` zero bytes: megabytes unpacked from a few kilobytes sent."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as zipped, tarfile.open(fileobj=zipped, mode="w|") as tar:
        for i in range(files):
            info = tarfile.TarInfo(f"zeros-{i}.bin")
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
    return raw.getvalue()


def test_a_gzip_bomb_past_the_limit_is_refused_and_leaves_nothing(api, api_knit, limit_of):
    limit_of(1 << 20)
    bomb = zeros_tar_gz(1, 16 << 20)
    assert len(bomb) < 64 << 10, "sent: a few KiB"
    reply = api.post("/api/data", params={"tag": "bomb:yes"}, content=bomb)
    assert reply.status_code == 413, reply.text
    error = reply.json()
    assert error["type"] == "TooLarge" and error["field"] == "upload"
    assert "limit of 1 MiB ([knit] max_upload_bytes)" in error["message"] and "nothing was kept" in error["message"]
    assert data.find(api_knit, ["bomb:yes"]) == [] and stored_ids(api_knit) == set()
    assert list((api_knit.store.root / ".staging").iterdir()) == []


def test_uploads_within_the_limit_pass_and_zero_means_unlimited(api, limit_of):
    limit_of(1 << 20)
    assert api.post("/api/data", params={"tag": "k:v"}, content=zeros_tar_gz(3, 200 << 10)).status_code == 200
    limit_of(None)
    assert api.post("/api/data", params={"tag": "k:v"}, content=zeros_tar_gz(1, 4 << 20)).status_code == 200


def test_a_batch_counts_all_its_parts(api, api_knit, limit_of):
    limit_of(1 << 20)
    body = parts_body({"a.bin": bytes(700 << 10)}, {"b.bin": bytes(700 << 10)})
    reply = api.post("/api/data/batch", params={"parts": 2, "tag": "k:v"}, content=body)
    assert reply.status_code == 413 and "'1/b.bin'" in reply.json()["message"], reply.text
    assert data.find(api_knit, ["k:v"]) == [] and stored_ids(api_knit) == set()
