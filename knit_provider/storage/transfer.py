"""Streamed, parallel transfers between local files and an fsspec filesystem, in bounded memory.

One :class:`Transfers` serves one store operation (a push, a pull, a Run's staging). Small files (up to
``part_size``) travel whole, several at a time on a thread pool; a big file is cut into parts: on S3 (s3fs)
its parts are uploaded concurrently as one multipart upload, elsewhere (GCS, Azure: their fsspec files upload
in blocks themselves) it is streamed; downloads of a big file read its parts concurrently as byte ranges, on any
store. The bytes in flight never exceed ``inflight_bytes`` (a budget every submission takes from), whatever the
sizes, so memory stays bounded for a 1 GiB file and for 10,000 small ones alike.

Every byte is hashed where it is read: uploads return the SHA-256 of what they read (it goes into the manifest);
downloads compare what arrived with the manifest's and refuse a mismatch. S3 also checks each request's own
checksum (a CRC32 with every upload: botocore's, or ours for the parts of a multipart upload), so a transfer is
verified on both ends.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import threading
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from knit_provider.core.errors import StoreUnavailable

PART_SIZE = 8 << 20
WORKERS = 8
INFLIGHT_PARTS = 4  # parts of big files in memory at once: the budget (the small files share it)
Progress = Callable[[int], None]


def read_full(reader: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the stream (raw files and tar members return short reads)."""
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = reader.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class Mismatch(StoreUnavailable):
    """Bytes read from the store differ from what its manifest says they are."""


class _Budget:
    """Bytes in flight: ``take`` blocks until they fit (one request larger than the whole budget still goes,
    alone), ``give`` returns them."""

    def __init__(self, limit: int) -> None:
        self.limit, self._used = limit, 0
        self._cond = threading.Condition()

    def take(self, n: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._used == 0 or self._used + n <= self.limit)
            self._used += n

    def give(self, n: int) -> None:
        with self._cond:
            self._used -= n
            self._cond.notify_all()


class Transfers:
    """A thread pool and a byte budget for one operation; ``finish()`` waits for everything and raises the first
    failure. Used as a context manager, leaving with an error cancels what has not started."""

    def __init__(
        self, fs: Any, *, workers: int = WORKERS, part_size: int = PART_SIZE, inflight_bytes: int | None = None
    ) -> None:
        self.fs = fs
        self.part_size = part_size
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="knit-transfer")
        self._budget = _Budget(inflight_bytes or INFLIGHT_PARTS * part_size)
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._failure: BaseException | None = None
        self._multipart = hasattr(fs, "call_s3") and hasattr(fs, "split_path")  # s3fs
        self._stream_parts = True  # until a store echoes no CRC32 (``_put_part``)

    @property
    def limit(self) -> int:
        """The bytes that may be in flight at once."""
        return self._budget.limit

    @property
    def pool(self) -> ThreadPoolExecutor:
        return self._pool

    # ---- the pool ----------------------------------------------------------------------------------------------

    def submit(self, nbytes: int, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` on the pool once ``nbytes`` fit the budget; a failure is kept for ``finish``."""
        self.check()
        self._budget.take(nbytes)
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            self._budget.give(nbytes)
            raise
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(lambda f: self._done(f, nbytes))
        return future

    def _done(self, future: Future, nbytes: int) -> None:
        self._budget.give(nbytes)
        with self._lock:
            self._pending.discard(future)
            if not future.cancelled() and future.exception() is not None and self._failure is None:
                self._failure = future.exception()

    def check(self) -> None:
        """Raise the first failure of a submitted transfer, if any (stop feeding a doomed operation early)."""
        if self._failure is not None:
            raise self._failure

    def finish(self) -> None:
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                break
            for future in pending:
                with contextlib.suppress(BaseException):
                    future.result()
        self.check()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Transfers:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None:
            self._failure = self._failure or StoreUnavailable("transfer cancelled")
        self.close()

    # ---- uploads -----------------------------------------------------------------------------------------------

    def upload(self, reader: BinaryIO, path: str, progress: Progress | None = None) -> tuple[str, int]:
        """Send ``reader``'s bytes to the object ``path``; returns (sha256 hex, size) of what was read.

        The reader is read on the calling thread (a tar stream cannot be read from two); the requests run on the
        pool. The object may still be in flight when this returns: ``finish()`` waits for it.
        """
        digest = hashlib.sha256()
        first, size = self._read_part(reader, digest, progress)
        if size < self.part_size:
            self.submit(size, self._put, path, first.getvalue())
            return digest.hexdigest(), size
        if self._multipart:
            size = self._upload_parts(reader, path, first, size, digest, progress)
        else:
            size = self._upload_stream(reader, path, first, size, digest, progress)
        return digest.hexdigest(), size

    def _read_part(self, reader: BinaryIO, digest: Any, progress: Progress | None) -> tuple[io.BytesIO, int]:
        """The next part (``part_size`` bytes, fewer at the end), hashed, in a ``BytesIO`` that alone holds it (the
        bytes read are dropped on return): what ``_put_part`` sends without a copy."""
        data = read_full(reader, self.part_size)
        digest.update(data)
        if progress is not None and data:
            progress(len(data))
        return io.BytesIO(data), len(data)

    def _put(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(path, data)

    def _upload_stream(
        self, reader: BinaryIO, path: str, first: io.BytesIO, length: int, digest: Any, progress: Progress | None
    ) -> int:
        size = 0
        with self.fs.open(path, "wb", block_size=self.part_size) as out:
            part = first
            while length:
                out.write(part.getvalue())
                size += length
                part, length = self._read_part(reader, digest, progress)
        return size

    def _upload_parts(
        self, reader: BinaryIO, path: str, first: io.BytesIO, length: int, digest: Any, progress: Progress | None
    ) -> int:
        """One S3 multipart upload, its parts sent concurrently; aborted (no object, no stored parts) on failure.

        Declared as CRC32, as boto3's own transfers do (unless the client sends checksums only when required):
        every part then carries its CRC32, computed here, which the store checks and echoes, and the object gets a
        composite CRC32 of its parts. Undeclared, the store computes a whole-object checksum of its own when the
        upload completes (moto: over one more concatenated copy of the whole object).
        """
        bucket, key, _ = self.fs.split_path(path)
        crc32 = self._declares_crc32()
        declared = {"ChecksumAlgorithm": "CRC32"} if crc32 else {}
        upload_id = self.fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key, **declared)["UploadId"]
        parts: list[Future] = []
        size = 0
        try:
            part, number = first, 1
            while length:
                parts.append(self.submit(length, self._put_part, bucket, key, upload_id, number, part, crc32))
                size += length
                part, length = self._read_part(reader, digest, progress)
                number += 1
            done = [{"PartNumber": n, **f.result()} for n, f in enumerate(parts, start=1)]
            self.fs.call_s3(
                "complete_multipart_upload",
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except BaseException:
            for future in parts:
                future.cancel()
            with contextlib.suppress(Exception):
                self.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload_id)
            raise
        return size

    def _put_part(
        self, bucket: str, key: str, upload_id: str, number: int, part: io.BytesIO, crc32: bool
    ) -> dict[str, str]:
        """Send one part; its entry for ``complete_multipart_upload``.

        With a CRC32, the body is the ``BytesIO`` itself: botocore and aiohttp send a ``BytesIO`` that alone holds
        its bytes as it is, where bytes would be wrapped in one sharing them, which aiohttp copies whole (twice the
        memory per part in flight). But a stream has a position: if s3fs repeated a call that failed half-way
        through the body, the rest alone would go. The CRC32 of the whole part, sent with it, makes the store
        refuse that, and the CRC32 it echoes must be ours. A part whose streamed call fails is sent once more as
        bytes (fresh for every try s3fs makes). A store that echoes no CRC32 proves nothing: the part is sent again
        as bytes, and so are the next ones, as they are without a CRC32.
        """
        call = {"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number}
        if crc32 and self._stream_parts:
            with part.getbuffer() as view:
                crc = base64.b64encode(zlib.crc32(view).to_bytes(4, "big")).decode()
            try:
                answer = self.fs.call_s3("upload_part", Body=part, ChecksumAlgorithm="CRC32", ChecksumCRC32=crc, **call)
            except Exception:  # refused (a repeated call sent part of the stream?) or failed: once more, as bytes
                answer = None
            if answer is not None:
                echoed = answer.get("ChecksumCRC32")
                if echoed == crc:
                    return {"ETag": str(answer["ETag"]), "ChecksumCRC32": crc}
                if echoed is not None:
                    raise Mismatch(f"part {number} of {key} arrived damaged: crc32 {echoed}, sent {crc}")
                self._stream_parts = False
        answer = self.fs.call_s3("upload_part", Body=part.getvalue(), **call)
        done = {"ETag": str(answer["ETag"])}
        if crc32 and answer.get("ChecksumCRC32"):
            done["ChecksumCRC32"] = str(answer["ChecksumCRC32"])
        return done

    def _declares_crc32(self) -> bool:
        """Whether multipart uploads declare CRC32: as boto3 does, unless the client is told to send checksums only
        when required (a store without them)."""
        try:
            setting = self.fs.s3.meta.config.request_checksum_calculation
        except Exception:  # not the s3fs client expected: ask nothing more than before
            return False
        return setting in (None, "when_supported")

    # ---- downloads ---------------------------------------------------------------------------------------------

    def download(
        self, path: str, dest: str, *, size: int, sha256: str, mode: int, mtime: float, progress: Progress | None
    ) -> None:
        """Write the object ``path`` into the new file ``dest``, verified against ``sha256``: a small object on the
        pool (this returns at once), a big one as concurrent ranges, written and hashed in order on this thread."""
        if size <= self.part_size:
            self.submit(size, self._get_whole, path, dest, size, sha256, mode, mtime, progress)
            return
        digest = hashlib.sha256()
        fd = _create(dest, mode)
        try:
            window: deque[Future] = deque()
            offsets = iter(range(0, size, self.part_size))
            window_parts = max(2, self.limit // self.part_size)
            for start in offsets:
                window.append(self.submit(self._part(start, size), self._range, path, start, size))
                if len(window) >= window_parts:
                    self._write_part(fd, window.popleft().result(), digest, progress)
            while window:
                self._write_part(fd, window.popleft().result(), digest, progress)
            os.fsync(fd)
        finally:
            os.close(fd)
        _verify(path, digest.hexdigest(), sha256)
        os.utime(dest, (mtime, mtime))

    def _part(self, start: int, size: int) -> int:
        return min(self.part_size, size - start)

    def _range(self, path: str, start: int, size: int) -> bytes:
        data = self.fs.cat_file(path, start=start, end=start + self._part(start, size))
        if len(data) != self._part(start, size):
            raise Mismatch(f"object {path} is shorter than its manifest says ({start + len(data)} < {size} bytes)")
        return bytes(data)

    @staticmethod
    def _write_part(fd: int, data: bytes, digest: Any, progress: Progress | None) -> None:
        digest.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if progress is not None:
            progress(len(data))

    def _get_whole(
        self, path: str, dest: str, size: int, sha256: str, mode: int, mtime: float, progress: Progress | None
    ) -> None:
        data = self.fs.cat_file(path) if size else b""
        _verify(path, hashlib.sha256(data).hexdigest(), sha256)
        fd = _create(dest, mode)
        try:
            self._write_part(fd, data, hashlib.sha256(), progress)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.utime(dest, (mtime, mtime))


def _create(dest: str, mode: int) -> int:
    """A new file, never through a planted link nor over an existing file."""
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, mode)
    return fd


def _verify(path: str, actual: str, expected: str) -> None:
    if actual != expected:
        raise Mismatch(f"object {path} does not match its manifest: sha256 {actual}, expected {expected} (damaged?)")
