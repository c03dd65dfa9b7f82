"""Writing one new Data to an object store: objects under a staging prefix, then the manifest, last.

A :class:`DataWriter` builds the Data's tree entry by entry (a directory walk, a tar stream, a Run's output),
checking every entry with the same rules as the local store's imports (``storage.safety``: names, kinds, link
targets, hard links, paths through links or files), uploads the files on a shared :class:`Transfers`, and
``seal`` checks the tree's links as a whole once every object is stored; the store then writes the manifest
(``ObjectStore._commit_all``). Until
then nothing about the Data is visible. ``discard`` deletes what was staged; what a killed process leaves is
found by its age (the staging prefix holds an ``.alive`` object rewritten every ``HEARTBEAT_S``).
"""

from __future__ import annotations

import contextlib
import tarfile
import threading
import time
import uuid
from typing import TYPE_CHECKING, BinaryIO

from knit_provider.storage import manifest as manifests
from knit_provider.storage.archive import checked_member
from knit_provider.storage.manifest import Entry, Manifest
from knit_provider.storage.safety import check_hardlink_target, check_link_target, refuse
from knit_provider.storage.transfer import Progress, Transfers
from knit_provider.storage.tree import file_mode

if TYPE_CHECKING:
    from knit_provider.storage.objects import ObjectStore

HEARTBEAT_S = 60.0
ALIVE = ".alive"


class DataWriter:
    """One Data being written; its manifest makes it exist, ``discard()`` (or an exception in a ``with``) removes it."""

    def __init__(self, store: ObjectStore, knit_id: str, transfers: Transfers) -> None:
        self.store, self.knit_id, self.transfers = store, knit_id, transfers
        self.token = uuid.uuid4().hex
        self.prefix = store.staging_key(knit_id, self.token)
        self.entries: list[Entry] = []
        self._kinds: dict[str, str] = {}
        self._files: dict[str, Entry] = {}  # regular files so far, by path: hard links may point at them
        self._count = 0
        self._stop = threading.Event()
        store.fs.pipe_file(f"{store.root}/{self.prefix}/{ALIVE}", b"")
        self._beat = threading.Thread(target=self._heartbeat, name=f"knit-stage-{knit_id[:8]}", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # a missed beat only shortens the sweep's grace
                self.store.fs.pipe_file(f"{self.store.root}/{self.prefix}/{ALIVE}", str(time.time()).encode())

    # ---- entries -------------------------------------------------------------------------------------------------

    def add_dir(self, rel: str) -> None:
        self._add(Entry(path=rel, kind="d"))

    def add_link(self, rel: str, target: str) -> None:
        self._add(Entry(path=rel, kind="l", target=target))

    def add_file(self, rel: str, reader: BinaryIO, mode: int, mtime: float, progress: Progress | None) -> Entry:
        self._count += 1
        name = f"{self._count:x}"
        sha256, size = self.transfers.upload(reader, self.object_path(name), progress)
        entry = Entry(path=rel, kind="f", size=size, sha256=sha256, mode=file_mode(mode), mtime=mtime, object=name)
        self._add(entry)
        self._files[rel] = entry
        return entry

    def add_hardlink(self, rel: str, target: str) -> None:
        """A second name for the regular file ``target`` added earlier: the same object, no new upload."""
        first = self._files[target]
        self._add(Entry(path=rel, kind="f", size=first.size, sha256=first.sha256, mode=first.mode,
                        mtime=first.mtime, object=first.object))  # fmt: skip
        self._files[rel] = first

    def _add(self, entry: Entry) -> None:
        self.entries.append(entry)
        self._kinds[entry.path] = entry.kind

    def object_path(self, name: str) -> str:
        return f"{self.store.root}/{self.prefix}/{name}"

    # ---- a tar member, checked as the local store checks it (``archive.unpack_member``) ---------------------------

    def add_member(self, archive: tarfile.TarFile, member: tarfile.TarInfo, progress: Progress | None) -> None:
        name = checked_member(member)
        if name is None:
            return
        self._make_parents(name)
        existing = self._kinds.get(name)
        if existing is not None:
            if member.isdir() and existing == "d":
                return  # a directory created implicitly for an earlier member
            raise refuse(member.name, "duplicate entry in the archive")
        if member.isdir():
            self.add_dir(name)
        elif member.issym():
            check_link_target(name, member.linkname)
            self.add_link(name, member.linkname)
        elif member.islnk():
            self.add_hardlink(name, check_hardlink_target(name, member.linkname, self._files))
        else:
            reader = archive.extractfile(member)
            assert reader is not None  # regular members always have a data stream
            self.add_file(name, reader, member.mode, float(member.mtime), progress)  # type: ignore[arg-type]

    def _make_parents(self, name: str) -> None:
        """The missing parents of ``name`` as directories; refused through a link or a file (as ``make_parents``)."""
        parts = name.split("/")[:-1]
        for depth in range(len(parts)):
            prefix = "/".join(parts[: depth + 1])
            kind = self._kinds.get(prefix)
            if kind is None:
                self.add_dir(prefix)
            elif kind == "l":
                raise refuse(name, f"path goes through the symlink {prefix!r}")
            elif kind != "d":
                raise refuse(name, f"path goes through {prefix!r}, which is not a directory")

    # ---- the end -------------------------------------------------------------------------------------------------

    def seal(self) -> Manifest:
        """Every object stored and the tree checked as a whole: the manifest to commit (not written yet)."""
        self.transfers.finish()
        manifests.check_links(self.entries)
        return Manifest(knit_id=self.knit_id, objects=self.prefix, entries=tuple(self.entries))

    def close(self) -> None:
        self._stop.set()
        if self._beat.is_alive() and self._beat is not threading.current_thread():
            self._beat.join()

    def discard(self) -> None:
        """Remove what was staged (best effort: what remains is swept by age)."""
        self.close()
        with contextlib.suppress(Exception):
            self.transfers.finish()  # nothing may land after the removal
        with contextlib.suppress(Exception):
            self.store.remove_prefix(self.prefix)

    def __enter__(self) -> DataWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None:
            self.discard()
        else:
            self.close()
