"""Tar streams into the store, member by member, in bounded memory (``packing`` writes them).

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

from knit_provider.core.errors import InvalidInput, TooLarge
from knit_provider.storage import tree
from knit_provider.storage.safety import ROOT, check_hardlink_target, check_link_target, check_member_name, refuse
from knit_provider.storage.tree import CHUNK, Progress

_UNREADABLE = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)
BLOCKSIZE = tarfile.BLOCKSIZE
NUL_BLOCK = b"\0" * BLOCKSIZE
# tarfile's header errors are not in its ``__all__`` but have been stable since Python 3.2
_EOF_HEADER = tarfile.EOFHeaderError  # type: ignore[attr-defined]
_EMPTY_HEADER = tarfile.EmptyHeaderError  # type: ignore[attr-defined]
_TRUNCATED_HEADER = tarfile.TruncatedHeaderError  # type: ignore[attr-defined]
_INVALID_HEADER = tarfile.InvalidHeaderError  # type: ignore[attr-defined]


def _unreadable(err: BaseException) -> InvalidInput:
    return InvalidInput(
        f"not a readable tar, tar.gz, tar.bz2 or tar.xz archive: {err}; nothing was kept", field="upload"
    )


def _incomplete(reason: str) -> InvalidInput:
    return InvalidInput(f"not a complete tar archive: {reason}; nothing was kept", field="upload")


class _StrictTarInfo(tarfile.TarInfo):
    """Header parsing that refuses what tarfile's reader takes for the end of the archive.

    ``TarFile.next`` ends the member list quietly at a missing, short or invalid header anywhere past the first
    one, so a stream cut at a file boundary, or with a damaged later header, would read as a shorter archive. A tar
    ends with two zero blocks (POSIX); anything else where a header belongs makes the whole upload unreadable.
    """

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        offset = archive.offset
        try:
            return super().fromtarfile(archive)
        except _EOF_HEADER:  # the first zero block: the second must follow
            if offset > 0 and archive.fileobj.read(BLOCKSIZE) != NUL_BLOCK:  # type: ignore[union-attr]
                raise _incomplete(f"a lone zero block at byte {offset}, not the two end-of-archive blocks") from None
            raise
        except (_EMPTY_HEADER, _TRUNCATED_HEADER):
            if offset == 0:
                raise  # nothing readable at all: tarfile's own "empty file" error
            raise _incomplete(f"it ends at byte {offset} without its end-of-archive blocks (truncated?)") from None
        except _INVALID_HEADER as err:
            if offset == 0:
                raise
            raise _incomplete(f"invalid header at byte {offset} ({err})") from None


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

    Iterating it ends only at the archive's end-of-archive blocks: a stream cut short, or a damaged header, raises
    ``InvalidInput`` instead of ending the member list early (the caller's staging then discards everything).
    Only archive errors become ``InvalidInput``: an ``OSError`` while writing the store stays what it is.
    """
    try:
        archive = tarfile.open(  # noqa: SIM115
            fileobj=_Guarded(_decompressed(fileobj)), mode="r|", bufsize=CHUNK, tarinfo=_StrictTarInfo
        )
    except _UNREADABLE as err:
        raise _unreadable(err) from None
    try:
        with archive:
            yield archive
    except tarfile.TarError as err:
        raise _unreadable(err) from None


class Quota:
    """The size an upload may reach once unpacked, charged member by member *before* the member's data is read:
    each regular file's bytes plus one header block (512 bytes) per entry, so neither a gzip bomb nor a flood of
    empty entries gets past it. ``limit`` None (or 0): unlimited."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit or None
        self.used = 0

    def charge(self, member: tarfile.TarInfo) -> None:
        if self.limit is None:
            return
        self.used += BLOCKSIZE + (member.size if member.isreg() else 0)
        if self.used > self.limit:
            raise TooLarge(
                f"the upload unpacks to more than the limit of {_size(self.limit)} ([knit] max_upload_bytes), "
                f"at entry {member.name!r}; nothing was kept",
                field="upload",
            )


def _size(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def checked_member(member: tarfile.TarInfo) -> str | None:
    """The safe relative name of a tar member any store may write, or None for the upload's top directory (nothing
    to write); refuses (and with it the whole upload) unsafe names, devices, FIFOs and unknown entry types."""
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
        return None
    return name


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
    name = checked_member(member)
    if name is None:
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


def split_part(member: tarfile.TarInfo, parts: int) -> int | None:
    """Which of ``parts`` Data a member of a several-Data upload belongs to (its first component, ``0`` to
    ``parts - 1``), its name made relative to that part; ``None`` for the archive's own top directory.

    A hard link must name a member of the same part (links are per Data); symlink targets are relative to the
    link already, and the part's own checks refuse one that leaves it.
    """
    name = check_member_name(member.name)
    if name == ROOT:
        if not member.isdir():
            raise refuse(member.name, "the top of the upload must be a directory")
        return None
    head, _, rest = name.partition("/")
    if not (head.isdigit() and str(int(head)) == head and int(head) < parts):
        raise refuse(member.name, f"a several-Data upload holds only the directories 0 to {parts - 1}")
    if member.islnk():
        target = check_member_name(member.linkname)
        target_head, _, target_rest = target.partition("/")
        if target_head != head or not target_rest:
            raise refuse(member.name, f"hard link to {member.linkname!r}, which belongs to another Data")
        member.linkname = target_rest
    member.name = rest or ROOT
    return int(head)


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
