"""Tree primitives shared by the store: walking, chunked copying and the content checksum.

Kept apart from :mod:`local` so the checksum definition lives in one place: a directory import, a tar import and
``measure`` of a Run's output all describe a tree through :func:`walk` and :func:`summarise`, which is why the
same tree gets the same checksum however it arrived.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from knit_provider.core.errors import Conflict
from knit_provider.storage.source import Entry, SourceTree

CHUNK = 1 << 20  # copy unit: bounds memory whatever the file size
CHECKSUM_VERSION = b"knit-tree-v1\0"

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ContentInfo:
    """What a stored Data holds: ``checksum`` ("sha256:<hex>"), ``size`` (file bytes) and ``files`` (non-dirs)."""

    checksum: str
    size: int
    files: int


def walk(root: str | os.PathLike[str], *, validate: bool) -> list[Entry]:
    """List the tree under ``root`` without following symlinks, every directory before its contents.

    With ``validate`` each entry goes through the upload rules (names, types, link targets) and the first bad one
    raises; without it (trees already in the store, e.g. a Run's output) special files are silently skipped.
    """
    with SourceTree(root) as source:
        return source.walk(validate=validate)


def file_mode(mode: int) -> int:
    """Normalised permissions for stored files: readable by all, executable if the owner could execute."""
    return 0o755 if mode & stat.S_IXUSR else 0o644


def make_dir(path: str) -> None:
    """Create a directory with fixed permissions (independent of the umask, so stores look alike)."""
    os.mkdir(path)
    os.chmod(path, 0o755)


def pump(
    reader: BinaryIO,
    dst: str,
    mode: int,
    progress: Progress | None = None,
    tick: Callable[[], None] | None = None,
) -> str:
    """Copy ``reader`` into a new file ``dst`` chunk by chunk, fsync it, and return the content's sha256 hex.

    ``O_EXCL|O_NOFOLLOW``: never overwrite, never write through a link planted under the destination name.
    """
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(fd, "wb", buffering=0) as out:
        os.fchmod(fd, mode)
        while True:
            n = reader.readinto(view)  # type: ignore[attr-defined]
            if not n:
                break
            digest.update(view[:n])
            written = 0
            while written < n:
                written += out.write(view[written:n]) or 0
            if progress is not None:
                progress(n)
            if tick is not None:
                tick()
        os.fsync(fd)
    return digest.hexdigest()


def hash_file(path: str) -> str:
    digest = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(view):
            digest.update(view[:n])
    return digest.hexdigest()


def summarise(
    root: str | os.PathLike[str], digests: dict[str, str] | None = None, entries: list[Entry] | None = None
) -> ContentInfo:
    """Checksum, size and file count of a stored tree.

    The checksum covers, sorted by path bytes: each entry's kind, relative path, and its content's sha256 (files)
    or target (symlinks). Names, kinds and targets cannot contain NUL, so NUL-separated records are unambiguous.
    Modes and mtimes are left out on purpose: tar and copies do not carry them identically.
    ``digests`` holds file hashes computed while copying, to avoid reading the content twice; ``entries`` a walk
    of ``root`` already made.
    """
    records: list[tuple[str, str, str]] = []
    size = files = 0
    for rel, kind, target in walk(root, validate=False) if entries is None else entries:
        full = os.path.join(root, rel)
        payload = ""
        if kind == "f":
            size += os.lstat(full).st_size
            payload = (digests or {}).get(rel) or hash_file(full)
        elif kind == "l":
            payload = target
        if kind != "d":
            files += 1
        records.append((rel, kind, payload))
    return ContentInfo(checksum=checksum_of(records), size=size, files=files)


def checksum_of(records: Iterable[tuple[str, str, str]]) -> str:
    """The content checksum of a tree given as (path, kind, payload): a file's sha256 hex, a link's target, "" for
    a directory. Shared by local trees (:func:`summarise`) and manifests, so a Data's checksum never depends on
    the store holding it."""
    encoded = sorted((os.fsencode(path), kind.encode(), os.fsencode(payload)) for path, kind, payload in records)
    total = hashlib.sha256(CHECKSUM_VERSION)
    for path, kind_b, payload in encoded:
        total.update(kind_b + b"\0" + path + b"\0" + payload + b"\0")
    return f"sha256:{total.hexdigest()}"


def fsync_dirs(root: str | os.PathLike[str], entries: list[Entry]) -> None:
    """Make the directory entries durable, so a Data that survived the rename also survived a crash."""
    for path in [os.fspath(root)] + [os.path.join(root, rel) for rel, kind, _ in entries if kind == "d"]:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unlock(path: str | os.PathLike[str]) -> None:
    """Give the owner rwx on every directory of a tree (never through symlinks), so it can be emptied."""
    pending = [os.fspath(path)]
    while pending:
        current = pending.pop()
        mode = os.lstat(current).st_mode
        if mode & 0o700 != 0o700:
            os.chmod(current, mode | 0o700)
        with os.scandir(current) as it:
            pending.extend(e.path for e in it if e.is_dir(follow_symlinks=False))


def rmtree(path: str | os.PathLike[str]) -> None:
    """Remove a tree even when a Run left read-only directories in it; a missing tree is fine."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return
    try:
        shutil.rmtree(path)
    except OSError:
        if not os.path.lexists(path):
            return
        _unlock(path)
        shutil.rmtree(path)


def place(work: Path, final: Path, *, replace: bool = False) -> None:
    """Move the complete tree ``work`` to ``final`` in one rename, so ``final`` never holds half a tree.

    An existing ``final`` is a ``Conflict`` unless ``replace``: then it is renamed aside first (and put back if the
    move fails) and removed once the new tree is in place.
    """
    if not os.path.lexists(final):
        os.rename(work, final)
        return
    if not replace:
        raise Conflict(f"{final} already exists")
    old = final.with_name(f".{final.name}.replaced-{os.urandom(4).hex()}")
    os.rename(final, old)
    try:
        os.rename(work, final)
    except BaseException:
        os.rename(old, final)
        raise
    rmtree(old)


def copy_entries(
    source: SourceTree,
    entries: list[Entry],
    dst: Path,
    progress: Progress | None = None,
    tick: Callable[[], None] | None = None,
) -> dict[str, str]:
    """Recreate ``entries`` of ``source`` under the existing directory ``dst``; returns the file digests by path.

    Every entry is read relative to its parent's descriptor (``SourceTree``): a directory swapped for a symlink
    after the walk, or a link retargeted, refuses the copy rather than reading through it.
    """
    digests: dict[str, str] = {}
    for rel, kind, target in entries:
        dest = os.path.join(dst, rel)
        if kind == "d":
            make_dir(dest)
        elif kind == "l":
            os.symlink(source.readlink(rel, target), dest)
        else:
            with source.open_file(rel) as reader:
                st = os.fstat(reader.fileno())
                digests[rel] = pump(reader, dest, file_mode(st.st_mode), progress, tick)
            os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
    return digests
