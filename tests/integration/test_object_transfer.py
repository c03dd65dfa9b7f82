"""Multipart uploads on a real S3 API (the session's moto server): the digest is the plain SHA-256 of the content
however many parts it took, every part goes with its CRC32 and the object gets the composite of them, a damaged
part or a failed read aborts the upload, and a store that keeps no checksums still gets every part whole."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zlib
from typing import Any

import pytest
import s3fs

from knit_provider.storage.transfer import Mismatch, Transfers

pytestmark = pytest.mark.object_store

PART = 5 << 20  # S3's smallest part


@pytest.fixture
def fs(s3_url: str) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(skip_instance_cache=True)


def where(s3_url: str) -> tuple[str, str, str]:
    """(bucket, key, fsspec path) of the test's object."""
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    return bucket, f"{prefix}/object", f"{bucket}/{prefix}/object"


def crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


class Recording:
    """The filesystem as ``Transfers`` uses it, each ``upload_part`` recorded and its answer passed through
    ``answer`` (a store that behaves otherwise)."""

    def __init__(self, fs: s3fs.S3FileSystem, answer: Any = None) -> None:
        self.fs, self.answer, self.bodies = fs, answer, []
        self.split_path, self.s3 = fs.split_path, fs.s3

    def call_s3(self, method: str, **kwargs: Any) -> dict:
        found = self.fs.call_s3(method, **kwargs)
        if method == "upload_part":
            self.bodies.append((kwargs["PartNumber"], type(kwargs["Body"]).__name__))
            if self.answer is not None:
                found = self.answer(found)
        return found


def test_a_big_file_goes_in_crc32_parts_and_its_digest_is_the_plain_sha256(fs, s3_server, s3_url):
    content = os.urandom(PART * 2 + 12345)
    bucket, key, path = where(s3_url)
    with Transfers(fs, part_size=PART) as transfers:
        assert transfers.upload(io.BytesIO(content), path) == (hashlib.sha256(content).hexdigest(), len(content))
        transfers.finish()
    client = s3_server.client()
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == content
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    parts = [content[i : i + PART] for i in range(0, len(content), PART)]
    composite = base64.b64encode(crc32(b"".join(crc32(p) for p in parts))).decode()
    assert head["ETag"].endswith('-3"') and head["ChecksumCRC32"].split("-")[0] == composite
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_a_part_echoed_with_another_crc32_aborts_the_upload(fs, s3_server, s3_url):
    bucket, key, path = where(s3_url)
    damaged = Recording(fs, lambda answer: {**answer, "ChecksumCRC32": "AAAAAA=="})
    with pytest.raises(Mismatch, match="arrived damaged"), Transfers(damaged, part_size=PART) as transfers:
        transfers.upload(io.BytesIO(os.urandom(PART * 2)), path)
        transfers.finish()
    client = s3_server.client()
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)


def test_a_failed_read_aborts_the_upload(fs, s3_server, s3_url):
    class Failing(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() >= PART:
                raise OSError("disk gone")
            return super().read(size)

    bucket, _, path = where(s3_url)
    with pytest.raises(OSError, match="disk gone"), Transfers(fs, part_size=PART) as transfers:
        transfers.upload(Failing(os.urandom(PART * 3)), path)
    client = s3_server.client()
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)


def test_a_store_that_echoes_no_crc32_gets_every_part_as_bytes(fs, s3_server, s3_url):
    """Nothing proves a streamed part went whole: it is sent again as bytes (fresh for every retry), as the next."""
    content = os.urandom(PART * 3 + 1)
    bucket, key, path = where(s3_url)
    silent = Recording(fs, lambda answer: {k: v for k, v in answer.items() if k != "ChecksumCRC32"})
    with Transfers(silent, part_size=PART, workers=1) as transfers:
        assert transfers.upload(io.BytesIO(content), path)[0] == hashlib.sha256(content).hexdigest()
        transfers.finish()
    assert silent.bodies == [(1, "BytesIO"), (1, "bytes"), (2, "bytes"), (3, "bytes"), (4, "bytes")]
    assert s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read() == content


def test_a_streamed_part_whose_call_fails_half_way_goes_again_as_bytes(fs, s3_server, s3_url):
    """The first try of part 1 dies after reading half its stream (as a call s3fs repeats would leave it): the part
    goes again whole, as bytes, and the object is the content."""
    content = os.urandom(PART * 2 + 7)
    bucket, key, path = where(s3_url)

    class FailingOnce(Recording):
        failed = False

        def call_s3(self, method: str, **kwargs: Any) -> dict:
            body = kwargs.get("Body")
            if method == "upload_part" and isinstance(body, io.BytesIO) and not self.failed:
                self.failed = True
                body.read(PART // 2)
                self.bodies.append((kwargs["PartNumber"], "failed"))
                raise ConnectionError("connection reset half way through the body")
            return super().call_s3(method, **kwargs)

    flaky = FailingOnce(fs)
    with Transfers(flaky, part_size=PART, workers=1) as transfers:
        assert transfers.upload(io.BytesIO(content), path)[0] == hashlib.sha256(content).hexdigest()
        transfers.finish()
    assert flaky.bodies == [(1, "failed"), (1, "bytes"), (2, "BytesIO"), (3, "BytesIO")]
    assert s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read() == content
