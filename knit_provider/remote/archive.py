"""Client-side tar work for the remote API: pack a directory (with its SHA-256), unpack a download safely.

Packing spools to a temporary file so the digest is known before the upload starts (the server checks it
before registering anything); unpacking uses tarfile's ``data`` filter (no absolute paths, no ``..``, no links
out, no devices) and appears at its destination only when complete.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from knit_provider.core.errors import Conflict, InvalidInput

CHUNK = 1 << 20
SPOOL_IN_MEMORY = 8 << 20


class _HashingWriter:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()


def _owner_zeroed(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack_dir(source: Path) -> tuple[BinaryIO, str]:
    """``source`` as a tar.gz in a (spooled) temporary file, rewound, and its hex SHA-256."""
    if not source.is_dir():
        raise InvalidInput(f"not a directory: {source}", field="source")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned to the caller
    writer = _HashingWriter(spool)  # type: ignore[arg-type]
    try:
        with (
            gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=6, mtime=0) as zipped,  # type: ignore[arg-type]
            tarfile.open(fileobj=zipped, mode="w|", format=tarfile.PAX_FORMAT) as archive,
        ):
            archive.add(str(source), arcname=".", recursive=True, filter=_owner_zeroed)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool, writer.sha256.hexdigest()  # type: ignore[return-value]


def chunks_of(body: bytes | BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    """An upload body as chunks, whatever it was given as."""
    if isinstance(body, bytes | bytearray | memoryview):
        yield bytes(body)
        return
    read = getattr(body, "read", None)
    if read is not None:
        while chunk := read(CHUNK):
            yield chunk
        return
    yield from body  # type: ignore[misc]


def unpack_into(stream: BinaryIO, dest: Path, name: str) -> Path:
    """Extract a tar(.gz) stream to ``dest/name/``; refused if it exists, invisible there until complete."""
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / name
    if os.path.lexists(final):
        raise Conflict(f"{final} already exists")
    work = Path(tempfile.mkdtemp(dir=dest, prefix=f".{name}."))
    try:
        os.chmod(work, 0o755)
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            archive.extractall(work, filter="data")
        os.rename(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final
