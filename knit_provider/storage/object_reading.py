"""Reading a committed Data back out of an object store: as a tar stream, as a local tree, or entry by entry.

Every file's bytes are checked against the manifest's SHA-256 as they arrive; a mismatch (or a missing object)
is a ``StoreUnavailable`` naming the object, and whatever was being written is abandoned: a pulled or cached
tree never holds bytes its manifest does not vouch for.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from knit_provider.storage import tree
from knit_provider.storage.manifest import Entry, Manifest
from knit_provider.storage.transfer import Mismatch, Progress, Transfers

if TYPE_CHECKING:
    from knit_provider.storage.objects import ObjectStore


class ManifestReader:
    """A committed Data as a tree source: ``entries`` (walk order) and ``open(entry)`` for a file's bytes."""

    def __init__(self, store: ObjectStore, manifest: Manifest) -> None:
        self.store, self.manifest = store, manifest
        self.entries = list(manifest.entries)

    def key(self, entry: Entry) -> str:
        return f"{self.store.root}/{self.manifest.objects}/{entry.object}"

    @contextmanager
    def open(self, entry: Entry) -> Iterator[BinaryIO]:
        with self.store.fs.open(self.key(entry), "rb", block_size=self.store.part_size) as raw:
            yield _Verifying(iter(lambda: raw.read(1 << 20), b""), entry, self.key(entry))  # type: ignore[misc]

    def write_tar(self, archive: tarfile.TarFile, transfers: Transfers, progress: Progress | None) -> None:
        """Every entry into ``archive`` in order; file contents fetched ahead, several at a time."""
        files = [e for e in self.entries if e.kind == "f"]
        first_name: dict[str, str] = {}
        unique = [e for e in files if first_name.setdefault(e.object, e.path) == e.path]
        chunks = _ordered_chunks(self, unique, transfers)
        for entry in self.entries:
            info = tarfile.TarInfo(entry.path)
            info.mtime, info.uid, info.gid, info.uname, info.gname = entry.mtime, 0, 0, "", ""
            if entry.kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            elif entry.kind == "l":
                info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.target
                archive.addfile(info)
            elif first_name[entry.object] != entry.path:  # a hard link to a file already in the archive
                info.type, info.mode, info.linkname = tarfile.LNKTYPE, entry.mode, first_name[entry.object]
                archive.addfile(info)
            else:
                info.type, info.mode, info.size = tarfile.REGTYPE, entry.mode, entry.size
                archive.addfile(info, _Verifying(next(chunks), entry, self.key(entry), progress))  # type: ignore[arg-type]


class _Verifying:
    """One file's chunks as a reader for tarfile; the SHA-256 is checked when the last byte has been read."""

    def __init__(self, chunks: Iterator[bytes], entry: Entry, key: str, progress: Progress | None = None) -> None:
        self._chunks, self._entry, self._key, self._progress = chunks, entry, key, progress
        self._buffer = b""
        self._digest = hashlib.sha256()
        self._left = entry.size
        self._done = False
        if entry.size == 0:
            self._finish()

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._finish()
                break
            self._digest.update(chunk)
            self._left -= len(chunk)
            self._buffer += chunk
            if self._left <= 0:  # tarfile reads no further than the size: check now
                if next(self._chunks, None) is not None:
                    self._left = -1
                self._finish()
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        if self._progress is not None and data:
            self._progress(len(data))
        return data

    def _finish(self) -> None:
        self._done = True
        if self._left != 0 or self._digest.hexdigest() != self._entry.sha256:
            raise Mismatch(f"object {self._key} ({self._entry.path!r}) does not match its manifest (damaged?)")

    def __enter__(self) -> _Verifying:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _ordered_chunks(reader: ManifestReader, files: list[Entry], transfers: Transfers) -> Iterator[Iterator[bytes]]:
    """For each file in order, an iterator over its bytes; requests run ahead on the pool within a byte window
    (the transfers' budget), so many small files and one big file both stream at the pool's pace."""
    part = transfers.part_size
    requests: Iterator[tuple[int, str, int, int]] = (
        (index, reader.key(entry), start, min(part, entry.size - start))
        for index, entry in enumerate(files)
        for start in range(0, entry.size, part)
    )
    window: deque[tuple[int, Future, int]] = deque()
    state = {"bytes": 0, "more": True}
    limit = transfers.limit
    pending: list[tuple[int, str, int, int]] = []

    def fill() -> None:
        while state["more"] and (not window or state["bytes"] < limit):
            if not pending:
                nxt = next(requests, None)
                if nxt is None:
                    state["more"] = False
                    return
                pending.append(nxt)
            index, key, start, length = pending.pop()
            future = transfers.pool.submit(_get_range, reader.store.fs, key, start, length)
            window.append((index, future, length))
            state["bytes"] += length

    def chunks_of(index: int) -> Iterator[bytes]:
        fill()
        while window and window[0][0] == index:
            _, future, length = window.popleft()
            state["bytes"] -= length
            data = future.result()
            fill()
            yield data

    for index in range(len(files)):
        yield chunks_of(index)


def _get_range(fs: Any, key: str, start: int, length: int) -> bytes:
    data = bytes(fs.cat_file(key, start=start, end=start + length))
    if len(data) != length:
        raise Mismatch(f"object {key} is shorter than its manifest says")
    return data


def materialise(store: ObjectStore, manifest: Manifest, into: Path, transfers: Transfers, progress: Progress | None
                ) -> None:  # fmt: skip
    """Write the Data's tree into the empty directory ``into``: directories, files (downloaded and verified,
    several at a time), links; a second name of one object becomes a hard link."""
    first: dict[str, str] = {}
    links: list[tuple[str, str]] = []
    later: list[tuple[str, Entry]] = []
    for entry in manifest.entries:
        dest = os.path.join(into, entry.path)
        if entry.kind == "d":
            tree.make_dir(dest)
        elif entry.kind == "l":
            later.append((dest, entry))
        elif entry.object in first:
            links.append((first[entry.object], dest))
        else:
            first[entry.object] = dest
            transfers.download(
                f"{store.root}/{manifest.objects}/{entry.object}",
                dest,
                size=entry.size,
                sha256=entry.sha256,
                mode=entry.mode,
                mtime=entry.mtime,
                progress=progress,
            )
    transfers.finish()
    for source, dest in links:
        try:
            os.link(source, dest, follow_symlinks=False)
        except OSError:
            with open(source, "rb", buffering=0) as reader:
                tree.pump(reader, dest, os.stat(source).st_mode & 0o777)
    for dest, entry in later:  # links last: nothing is ever written through one
        os.symlink(entry.target, dest)
