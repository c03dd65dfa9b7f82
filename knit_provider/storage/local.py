"""The local Data store: one plain directory per Data, ``root/<knit_id>/``.

Uploads are validated and written into ``root/.staging/<random>/``, then renamed into place in one step, so a
Data directory either does not exist or is complete: readers (mounts, downloads) never see half an upload, and
a failed or interrupted upload leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from knit_provider.core.errors import Conflict, NotFound, StoreFull
from knit_provider.storage import archive, leftovers, packing, tree
from knit_provider.storage.leftovers import STAGING, Leftover, check_id
from knit_provider.storage.safety import check_tree_links
from knit_provider.storage.source import SourceTree
from knit_provider.storage.tree import ContentInfo, Progress

HEARTBEAT_S = 60.0  # live staging dirs are touched this often, so gc_staging can tell them from crashed ones


class _Staging:
    """A private directory under ``root/.staging``: removed on any exception, renamed into place on publish."""

    def __init__(self, root: Path) -> None:
        self.root = root
        base = root / STAGING
        base.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(dir=base))
        os.chmod(self.path, 0o755)
        self._last_beat = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_S:
            os.utime(self.path)
            self._last_beat = now

    def publish(self, knit_id: str, digests: dict[str, str]) -> ContentInfo:
        """Check the whole staged tree, make it durable, and rename it to ``root/<knit_id>``."""
        entries = tree.walk(self.path, validate=False)
        check_tree_links(self.path, [rel for rel, kind, _ in entries if kind == "l"])
        tree.fsync_dirs(self.path, entries)
        info = tree.summarise(self.path, digests, entries)
        dest = self.root / knit_id
        taken = Conflict(f"Data {knit_id!r} already has content in the store")
        if os.path.lexists(dest):  # rename would silently replace an empty directory
            raise taken
        os.utime(self.path)  # a fresh mtime: the orphan sweep's grace period counts from the rename
        try:
            os.rename(self.path, dest)
        except OSError as err:
            if err.errno in (errno.ENOTEMPTY, errno.EEXIST):  # another import of the same id won the race
                raise taken from None
            raise
        _fsync_dir(self.root)
        return info

    def __enter__(self) -> _Staging:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:  # BaseException included: KeyboardInterrupt must not leave a staging dir
            tree.rmtree(self.path)
            if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreFull(f"the Data store {self.root} is full: {exc.strerror}; nothing was stored") from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore:
    """Data content on a local (or shared, e.g. ReadWriteMany) filesystem under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return self.root.absolute().as_uri()

    # ---- queries -------------------------------------------------------------------------------------------

    def exists(self, knit_id: str) -> bool:
        where = self.root / check_id(knit_id)
        return not os.path.islink(where) and where.is_dir()

    def path(self, knit_id: str) -> Path:
        """Where the content of ``knit_id`` lives; ``NotFound`` if the store has none."""
        where = self.root / check_id(knit_id)
        if os.path.islink(where) or not where.is_dir():
            raise NotFound(f"Data {knit_id!r} has no content in the store")
        return where

    def measure(self, knit_id: str) -> ContentInfo:
        """Checksum, size and file count of a stored tree (e.g. a Run output once the Run finished)."""
        return tree.summarise(self.path(knit_id))

    # ---- imports -------------------------------------------------------------------------------------------

    def import_dir(
        self, src: Path, knit_id: str, *, progress: Progress | None = None, follow_links: bool = False
    ) -> ContentInfo:
        """Copy a user directory in as ``knit_id``; the whole tree is validated before a byte is copied."""
        return self.import_dirs([src], [knit_id], progress=progress, follow_links=follow_links)[0]

    def import_dirs(
        self,
        sources: Sequence[Path],
        knit_ids: Sequence[str],
        *,
        progress: Progress | None = None,
        follow_links: bool = False,
    ) -> list[ContentInfo]:
        """Copy several user directories in, all or nothing: every tree is validated before a byte is copied,
        and a failure anywhere leaves none of them in the store.

        Each tree is read through one descriptor of its top (``SourceTree``): the walk and the copy see the same
        directories, and nothing below the top is ever followed unless ``follow_links`` (``push -L``) asks for
        the links' targets to be stored instead of the links.
        """
        for knit_id in knit_ids:
            self._check_new(knit_id)
        with ExitStack() as stack:
            checked = []
            for src in sources:
                source = stack.enter_context(SourceTree(src, label=str(src), follow_links=follow_links))
                entries = source.walk(validate=True)
                links = [rel for rel, kind, _ in entries if kind == "l"]
                if links:  # chains of links, checked physically before copying; again once staged
                    check_tree_links(Path(src), links)
                checked.append((source, entries))
            staged = []
            for source, entries in checked:
                stage = stack.enter_context(_Staging(self.root))
                staged.append((stage, tree.copy_entries(source, entries, stage.path, progress, stage.tick)))
            return self._publish_all(staged, knit_ids)

    def import_tar(
        self, fileobj: BinaryIO, knit_id: str, *, progress: Progress | None = None, max_bytes: int | None = None
    ) -> ContentInfo:
        """Unpack a streamed tar (plain, gz, bz2 or xz: detected) as ``knit_id``, refusing unsafe members, and
        stopping as soon as it unpacks past ``max_bytes`` (``archive.Quota``)."""
        self._check_new(knit_id)
        quota = archive.Quota(max_bytes)
        with _Staging(self.root) as stage:
            digests: dict[str, str] = {}
            with archive.open_upload(fileobj) as upload:
                for member in upload:
                    quota.charge(member)
                    archive.unpack_member(upload, member, str(stage.path), digests, progress, stage.tick)
            return stage.publish(knit_id, digests)

    def import_tar_parts(
        self,
        fileobj: BinaryIO,
        knit_ids: Sequence[str],
        *,
        progress: Progress | None = None,
        max_bytes: int | None = None,
    ) -> list[ContentInfo]:
        """Unpack one streamed tar holding several Data, all or nothing: the members under ``0/`` become
        ``knit_ids[0]``, those under ``1/`` ``knit_ids[1]``, and so on (``knit data push DIR1 DIR2`` remotely).

        Each part is checked as an upload of its own (a link from one part into another points outside it);
        ``max_bytes`` bounds them all together.
        """
        for knit_id in knit_ids:
            self._check_new(knit_id)
        quota = archive.Quota(max_bytes)
        with ExitStack() as stack:
            stages = [stack.enter_context(_Staging(self.root)) for _ in knit_ids]
            digests: list[dict[str, str]] = [{} for _ in knit_ids]
            with archive.open_upload(fileobj) as upload:
                for member in upload:
                    quota.charge(member)
                    part = archive.split_part(member, len(knit_ids))
                    if part is not None:
                        stage = stages[part]
                        archive.unpack_member(upload, member, str(stage.path), digests[part], progress, stage.tick)
            return self._publish_all(list(zip(stages, digests, strict=True)), knit_ids)

    def _publish_all(self, staged: list[tuple[_Staging, dict[str, str]]], knit_ids: Sequence[str]) -> list[ContentInfo]:
        """Publish every stage or none: a failure removes the ones already in place (the rest are still staged,
        and their ``_Staging`` removes them)."""
        published: list[str] = []
        infos = []
        try:
            for (stage, digests), knit_id in zip(staged, knit_ids, strict=True):
                infos.append(stage.publish(knit_id, digests))
                published.append(knit_id)
        except BaseException:
            for knit_id in published:
                self.delete(knit_id)
            raise
        return infos

    def create_empty(self, knit_id: str) -> Path:
        """An empty directory for a Run's output; idempotent (a retried task may call it twice)."""
        where = self.root / check_id(knit_id)
        try:
            tree.make_dir(str(where))
        except FileExistsError:
            if os.path.islink(where) or not where.is_dir():
                raise Conflict(f"Data {knit_id!r}: {where} exists and is not a directory") from None
        return where

    def delete(self, knit_id: str) -> None:
        """Remove the content of ``knit_id`` if any; moved aside first so nobody sees a half-deleted Data."""
        where = self.root / check_id(knit_id)
        if not os.path.lexists(where):
            return
        base = self.root / STAGING
        base.mkdir(exist_ok=True)
        trash = base / f"deleted-{knit_id}-{os.urandom(6).hex()}"
        try:
            os.rename(where, trash)
            os.utime(trash)  # fresh mtime: gc_staging must not race this rmtree
        except FileNotFoundError:  # deleted concurrently
            return
        tree.rmtree(trash)

    # ---- exports -------------------------------------------------------------------------------------------

    def export_tar(self, knit_id: str, out: BinaryIO, *, gzip: bool = True, progress: Progress | None = None) -> None:
        """Stream the tree as tar(.gz) into ``out``: relative names, symlinks kept, nothing held in memory."""
        packing.write_tar(str(self.path(knit_id)), out, compress=gzip, progress=progress)

    def extract_to(self, knit_id: str, dest: Path, *, replace: bool = False, progress: Progress | None = None) -> Path:
        """Copy the content to ``dest/<knit_id>/`` (``knit data pull -x``); appears there only when complete.

        An existing ``dest/<knit_id>`` is a ``Conflict`` unless ``replace`` (``--force``) swaps it for the new one.
        """
        src = self.path(knit_id)
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        final = dest / knit_id
        if os.path.lexists(final) and not replace:
            raise Conflict(f"{final} already exists")
        work = Path(tempfile.mkdtemp(dir=dest, prefix=f".{knit_id}."))
        try:
            os.chmod(work, 0o755)
            with SourceTree(src) as source:
                tree.copy_entries(source, source.walk(validate=False), work, progress)
            tree.place(work, final, replace=replace)
        except BaseException:
            tree.rmtree(work)
            raise
        return final

    def read_file(self, knit_id: str, name: str, offset: int = 0) -> bytes:
        """File ``name`` of a Data from byte ``offset`` (a Run's log, also while the Run writes it); b"" if none."""
        where = self.root / check_id(knit_id) / name
        with contextlib.suppress(FileNotFoundError, NotADirectoryError), open(where, "rb") as file:
            file.seek(offset)
            return file.read()
        return b""

    def file_size(self, knit_id: str, name: str) -> int:
        with contextlib.suppress(OSError):
            return (self.root / check_id(knit_id) / name).stat().st_size
        return 0

    def open_tree(self, knit_id: str) -> LocalTree:
        """The Data as a ``TreeSource`` (entries, each file openable), for copying into another store."""
        return LocalTree(self.path(knit_id))

    def import_tree(self, source: Any, knit_id: str, *, progress: Progress | None = None) -> ContentInfo:
        """Copy a Data another store holds (``source``: a ``TreeSource``) in as ``knit_id`` (migrate-store)."""
        self._check_new(knit_id)
        with _Staging(self.root) as stage:
            digests: dict[str, str] = {}
            for entry in source.entries:
                dest = os.path.join(stage.path, entry.path)
                if entry.kind == "d":
                    tree.make_dir(dest)
                elif entry.kind == "l":
                    os.symlink(entry.target, dest)
                else:
                    with source.open(entry) as reader:
                        digests[entry.path] = tree.pump(reader, dest, entry.mode, progress, stage.tick)
                    os.utime(dest, (entry.mtime, entry.mtime))
            return stage.publish(knit_id, digests)

    # ---- a Run's Data (the same calls as the object store's) -------------------------------------------------

    def input_dir(self, knit_id: str) -> Path:
        """Where a Run's program finds the input ``knit_id``: its directory in the store, mounted read-only."""
        return self.root / check_id(knit_id)

    @contextmanager
    def staged(self, knit_ids: Sequence[str]) -> Iterator[list[Path]]:
        """The inputs are in place already; ``NotFound`` for one the store does not have."""
        yield [self.path(k) for k in knit_ids]

    def output_dir(self, knit_id: str) -> Path:
        return self.create_empty(knit_id)

    def commit_output(self, knit_id: str) -> ContentInfo:
        """The output as it is now (a program that never wrote it leaves empty Data)."""
        self.create_empty(knit_id)
        return self.measure(knit_id)

    # ---- housekeeping --------------------------------------------------------------------------------------

    def gc_staging(self, older_than_s: float = 3600) -> int:
        """Remove staging leftovers of crashed processes; returns how many were removed.

        Live imports touch their staging directory every minute, so keep ``older_than_s`` well above that.
        """
        found = leftovers.staging_leftovers(self.root, older_than_s)
        for leftover in found:
            self.remove_leftover(leftover)
        return len(found)

    def leftovers(self, older_than_s: float) -> tuple[list[Leftover], list[Leftover]]:
        """(staging leftovers, Data directories) untouched for ``older_than_s`` seconds: the candidates of an
        orphan sweep. A Data directory is an orphan only if the catalog has no such Data (the caller asks it)."""
        return (
            leftovers.staging_leftovers(self.root, older_than_s),
            leftovers.data_directories(self.root, older_than_s),
        )

    def size_of(self, leftover: Leftover) -> int:
        return leftovers.size_of(self.root / leftover.name)

    def remove_leftover(self, leftover: Leftover) -> None:
        """Remove a staging leftover or an orphaned Data directory (a Data directory is moved aside first)."""
        if leftover.knit_id is not None:
            self.delete(leftover.knit_id)
        else:
            tree.rmtree(self.root / leftover.name)

    def claim_sweep(self, every_s: float) -> bool:
        """Whether an orphan sweep is due (none claimed by any process in ``every_s`` seconds); claims it."""
        return leftovers.claim_sweep(self.root, every_s)

    # ---- internals -----------------------------------------------------------------------------------------

    def _check_new(self, knit_id: str) -> None:
        if os.path.lexists(self.root / check_id(knit_id)):
            raise Conflict(f"Data {knit_id!r} already has content in the store")


class LocalTree:
    """A stored local tree as manifest entries, each file openable (what ``import_tree`` of any store reads)."""

    def __init__(self, root: Path) -> None:
        from knit_provider.storage.manifest import Entry

        self.root = root
        entries = []
        for rel, kind, target in tree.walk(root, validate=False):
            if kind == "f":
                st = os.lstat(root / rel)
                entries.append(Entry(path=rel, kind="f", size=st.st_size, mode=tree.file_mode(st.st_mode),
                                     mtime=st.st_mtime))  # fmt: skip
            else:
                entries.append(Entry(path=rel, kind=kind, target=target))
        self.entries = entries

    def open(self, entry: Any) -> BinaryIO:
        with SourceTree(self.root) as source:
            return source.open_file(entry.path)
