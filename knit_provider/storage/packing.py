"""Tar streams out of a tree: the store's downloads (``knit data pull``) and the remote client's uploads.

Both read the tree through a ``SourceTree`` (one descriptor per directory, links never followed unless asked),
so what is packed is exactly what the walk saw, or the packing fails naming the entry that changed.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
from collections.abc import Sequence
from typing import BinaryIO

from knit_provider.storage.safety import refuse
from knit_provider.storage.source import Entry, SourceTree
from knit_provider.storage.tree import CHUNK, Progress


class _CountedReader:
    """A file as tarfile reads it: reports the bytes handed over, and refuses a file that shrank meanwhile
    (tarfile would otherwise fail with a bare ``OSError`` halfway through the member)."""

    def __init__(self, raw: BinaryIO, rel: str, size: int, progress: Progress | None) -> None:
        self._raw, self._rel, self._left, self._progress = raw, rel, size, progress

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if not data and self._left > 0 and size != 0:
            raise refuse(self._rel, "shrank while it was being read")
        self._left -= len(data)
        if data and self._progress is not None:
            self._progress(len(data))
        return data


def _stamped(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    """A member ``name`` of type ``kind`` with ``st``'s permissions and mtime, owner zeroed."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = st.st_mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tree(
    source: SourceTree,
    entries: list[Entry],
    out: BinaryIO,
    *,
    compress: bool = True,
    progress: Progress | None = None,
) -> None:
    """Stream ``entries`` of ``source`` as tar(.gz) into ``out``: relative names, symlinks kept, owners zeroed.

    A second name of one inode becomes a hard link member. gzip is level 6 with a zero header mtime (tarfile's
    ``w|gz`` forces level 9, several times slower for little gain), so one tree packs to the same bytes apart from
    file mtimes. ``out`` is not closed.
    """
    write_trees([("", source, entries)], out, compress=compress, progress=progress)


def write_trees(
    parts: Sequence[tuple[str, SourceTree, list[Entry]]],
    out: BinaryIO,
    *,
    compress: bool = True,
    progress: Progress | None = None,
) -> None:
    """Several trees in one tar(.gz), each ``(prefix, source, entries)`` under its prefix (``"0/"``, ``"1/"``...);
    hard links never cross from one tree to another."""
    zipped = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) if compress else None
    try:
        sink = zipped if zipped is not None else out
        with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as archive:
            for prefix, source, entries in parts:
                if prefix:
                    archive.addfile(_stamped(prefix.rstrip("/"), source.lstat(""), tarfile.DIRTYPE))
                inodes: dict[tuple[int, int], str] = {}
                for rel, kind, target in entries:
                    name = prefix + rel
                    if kind == "d":
                        archive.addfile(_stamped(name, source.lstat(rel), tarfile.DIRTYPE))
                    elif kind == "l":
                        info = _stamped(name, source.lstat(rel), tarfile.SYMTYPE)
                        info.linkname = source.readlink(rel, target)
                        archive.addfile(info)
                    else:
                        with source.open_file(rel) as raw:
                            _add_file(archive, raw, name, rel, inodes, progress)
    finally:
        if zipped is not None:
            zipped.close()  # writes the gzip trailer; leaves ``out`` open


def _add_file(
    archive: tarfile.TarFile,
    raw: BinaryIO,
    name: str,
    rel: str,
    inodes: dict[tuple[int, int], str],
    progress: Progress | None,
) -> None:
    st = os.fstat(raw.fileno())
    info = _stamped(name, st, tarfile.REGTYPE)
    inode = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and inode in inodes:
        info.type, info.linkname = tarfile.LNKTYPE, inodes[inode]
        archive.addfile(info)
        return
    inodes[inode] = name
    info.size = st.st_size
    archive.addfile(info, _CountedReader(raw, rel, st.st_size, progress))  # type: ignore[arg-type]


def write_tar(base: str, out: BinaryIO, *, compress: bool = True, progress: Progress | None = None) -> None:
    """Stream the stored tree under ``base`` as tar(.gz) into ``out`` (special files skipped)."""
    with SourceTree(base) as source:
        write_tree(source, source.walk(validate=False), out, compress=compress, progress=progress)
