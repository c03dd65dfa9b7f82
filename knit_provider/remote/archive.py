"""Client-side tar work for the remote API: pack a directory (with its SHA-256), unpack a download safely.

Packing spools to a temporary file so the digest is known before the upload starts (the server checks it
before registering anything); unpacking uses tarfile's ``data`` filter (no absolute paths, no ``..``, no links
out, no devices) and appears at its destination only when complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

from knit_provider.core.errors import Conflict
from knit_provider.storage.packing import write_trees
from knit_provider.storage.source import SourceTree
from knit_provider.storage.tree import place

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


def pack_dir(
    source: Path, *, follow_links: bool = False, progress: Callable[[int], None] | None = None
) -> tuple[BinaryIO, str]:
    """``source`` as a tar.gz in a (spooled) temporary file, rewound, and its hex SHA-256.

    The tree is checked and read as the local mode reads it (``storage.source.SourceTree``: the upload rules, one
    descriptor per directory, no link followed unless ``follow_links``), so both modes refuse the same trees with
    the same message, and a directory swapped for a symlink while packing is never read through.
    """
    return pack_dirs([source], follow_links=follow_links, progress=progress)


def pack_dirs(
    sources: Sequence[Path], *, follow_links: bool = False, progress: Callable[[int], None] | None = None
) -> tuple[BinaryIO, str]:
    """Like ``pack_dir``; several directories become ``0/``, ``1/``... of one archive (``POST /data/batch``).
    Every tree is checked before any byte is packed."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned to the caller
    writer = _HashingWriter(spool)  # type: ignore[arg-type]
    try:
        with ExitStack() as stack:
            parts = []
            for index, source in enumerate(sources):
                tree = stack.enter_context(SourceTree(source, label=str(source), follow_links=follow_links))
                parts.append((f"{index}/" if len(sources) > 1 else "", tree, tree.walk(validate=True)))
            write_trees(parts, writer, progress=progress)  # type: ignore[arg-type]
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


def unpack_into(stream: BinaryIO, dest: Path, name: str, *, replace: bool = False) -> Path:
    """Extract a tar(.gz) stream to ``dest/name/``, invisible there until complete; an existing ``dest/name`` is
    a ``Conflict`` unless ``replace`` (``--force``) swaps it for the new one."""
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / name
    if os.path.lexists(final) and not replace:
        raise Conflict(f"{final} already exists")
    work = Path(tempfile.mkdtemp(dir=dest, prefix=f".{name}."))
    try:
        os.chmod(work, 0o755)
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            archive.extractall(work, filter="data")
        place(work, final, replace=replace)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final
