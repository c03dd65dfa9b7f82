"""Tar streams in and out of the store, member by member, in bounded memory.

Compression is detected here rather than by tarfile's ``r|*``: tarfile's stream mode decompresses whole input
blocks without a size bound, so a highly compressible upload (zeros, a gzip bomb) costs tens of MiB per read.
The ``gzip``/``bz2``/``lzma`` file classes bound each read; tarfile then reads an uncompressed ``r|`` stream.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from knit_provider.core.errors import InvalidInput
from knit_provider.storage import tree
from knit_provider.storage.safety import ROOT, check_hardlink_target, check_link_target, check_member_name, refuse
from knit_provider.storage.tree import CHUNK, Progress

_UNREADABLE = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


def _unreadable(err: BaseException) -> InvalidInput:
    return InvalidInput(f"not a readable tar, tar.gz, tar.bz2 or tar.xz archive: {err}", field="upload")


class _Prefixed:
    """Reads ``head`` (bytes already consumed while sniffing) and then the rest of ``raw``."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head, self._raw = head, raw

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._raw.read(size)


class _Guarded:
    """The uncompressed archive stream; decoding errors become an ``InvalidInput`` about the upload."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        try:
            return self._raw.read(size)
        except _UNREADABLE as err:
            raise _unreadable(err) from None


def _decompressed(fileobj: BinaryIO) -> BinaryIO:
    """Sniff the first bytes and wrap ``fileobj`` in the matching bounded decompressor (none for a plain tar)."""
    head = b""
    while len(head) < 6:
        more = fileobj.read(6 - len(head))
        if not more:
            break
        head += more
    stream: Any = _Prefixed(head, fileobj)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(stream, mode="rb")  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(stream, mode="rb")  # type: ignore[return-value]
    return stream  # type: ignore[no-any-return]


@contextmanager
def open_upload(fileobj: BinaryIO) -> Iterator[tarfile.TarFile]:
    """A streaming reader over an uploaded (possibly compressed) tar; nothing is seeked or buffered whole.

    Only archive errors become ``InvalidInput``: an ``OSError`` while writing the store stays what it is.
    """
    try:
        archive = tarfile.open(fileobj=_Guarded(_decompressed(fileobj)), mode="r|", bufsize=CHUNK)  # noqa: SIM115
    except _UNREADABLE as err:
        raise _unreadable(err) from None
    try:
        with archive:
            yield archive
    except tarfile.TarError as err:
        raise _unreadable(err) from None


def unpack_member(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    stage: str,
    digests: dict[str, str],
    progress: Progress | None = None,
    tick: Callable[[], None] | None = None,
) -> None:
    """Write one tar member under ``stage``, or refuse it (and with it the whole upload).

    ``digests`` maps the regular files written so far to their sha256: hard links may only point at those.
    """
    name = check_member_name(member.name)
    if member.ischr() or member.isblk():
        raise refuse(name, "device files are not allowed")
    if member.isfifo():
        raise refuse(name, "FIFOs (named pipes) are not allowed")
    if not (member.isdir() or member.isreg() or member.issym() or member.islnk()):
        raise refuse(name, f"unsupported tar entry type {member.type!r}")
    if name == ROOT:
        if not member.isdir():
            raise refuse(member.name, "the top of the upload must be a directory")
        return
    make_parents(stage, name)
    dest = os.path.join(stage, name)
    if os.path.lexists(dest):
        if member.isdir() and stat.S_ISDIR(os.lstat(dest).st_mode):
            return  # a directory created implicitly for an earlier member
        raise refuse(member.name, "duplicate entry in the archive")
    if member.isdir():
        tree.make_dir(dest)
    elif member.issym():
        check_link_target(name, member.linkname)
        os.symlink(member.linkname, dest)
    elif member.islnk():
        target = check_hardlink_target(name, member.linkname, digests)
        try:
            os.link(os.path.join(stage, target), dest, follow_symlinks=False)
        except OSError:  # a filesystem without hard links: a copy has the same content
            with open(os.path.join(stage, target), "rb", buffering=0) as reader:
                tree.pump(reader, dest, tree.file_mode(member.mode), None, tick)
        digests[name] = digests[target]
    else:
        reader = archive.extractfile(member)
        assert reader is not None  # regular members always have a data stream
        digests[name] = tree.pump(reader, dest, tree.file_mode(member.mode), progress, tick)
        os.utime(dest, (member.mtime, member.mtime))


def make_parents(stage: str, name: str) -> None:
    """Create the missing parent directories of ``name``, refusing to pass through a symlink or a file."""
    current = stage
    parts = name.split("/")[:-1]
    for depth, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            tree.make_dir(current)
            continue
        prefix = "/".join(parts[: depth + 1])
        if stat.S_ISLNK(mode):
            raise refuse(name, f"path goes through the symlink {prefix!r}")
        if not stat.S_ISDIR(mode):
            raise refuse(name, f"path goes through {prefix!r}, which is not a directory")


class _ProgressReader:
    """A file as tarfile reads it, reporting the bytes handed over."""

    def __init__(self, raw: BinaryIO, progress: Progress | None) -> None:
        self._raw, self._progress = raw, progress

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data and self._progress is not None:
            self._progress(len(data))
        return data


def write_tar(base: str, out: BinaryIO, *, compress: bool = True, progress: Progress | None = None) -> None:
    """Stream the tree under ``base`` as tar(.gz) into ``out``: relative names, symlinks kept, owner zeroed.

    gzip is level 6 with a zero header mtime (tarfile's ``w|gz`` forces level 9, several times slower for little
    gain), so one tree exports to the same bytes apart from file mtimes. ``out`` is not closed.
    """
    zipped = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) if compress else None
    try:
        sink = zipped if zipped is not None else out
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as archive:
            for rel, _kind, _target in tree.walk(base, validate=False):
                full = os.path.join(base, rel)
                info = archive.gettarinfo(full, arcname=rel)  # a second name of one inode becomes a hard link
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if info.isreg():
                    with open(full, "rb") as raw:
                        archive.addfile(info, _ProgressReader(raw, progress))  # type: ignore[arg-type]
                else:
                    archive.addfile(info)
    finally:
        if zipped is not None:
            zipped.close()  # writes the gzip trailer; leaves ``out`` open
