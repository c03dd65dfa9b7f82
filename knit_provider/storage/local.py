"""The local Data store: one plain directory per Data, ``root/<knit_id>/``.

Uploads are validated and written into ``root/.staging/<random>/``, then renamed into place in one step, so a
Data directory either does not exist or is complete: readers (mounts, downloads) never see half an upload, and
a failed or interrupted upload leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from knit_provider.core.errors import Conflict, InvalidInput, NotFound
from knit_provider.storage import archive, tree
from knit_provider.storage.safety import check_tree_links
from knit_provider.storage.tree import ContentInfo, Progress

STAGING = ".staging"
HEARTBEAT_S = 60.0  # live staging dirs are touched this often, so gc_staging can tell them from crashed ones
_KNIT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


def _check_id(knit_id: str) -> str:
    """A knit id becomes a directory name: one plain component, never hidden (``.staging`` is ours)."""
    if not isinstance(knit_id, str) or not _KNIT_ID.fullmatch(knit_id):
        raise InvalidInput(f"{knit_id!r} is not a valid knit id (letters, digits, '.', '_', '-')", field="knit_id")
    return knit_id


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

    # ---- queries -------------------------------------------------------------------------------------------

    def exists(self, knit_id: str) -> bool:
        where = self.root / _check_id(knit_id)
        return not os.path.islink(where) and where.is_dir()

    def path(self, knit_id: str) -> Path:
        """Where the content of ``knit_id`` lives; ``NotFound`` if the store has none."""
        where = self.root / _check_id(knit_id)
        if os.path.islink(where) or not where.is_dir():
            raise NotFound(f"Data {knit_id!r} has no content in the store")
        return where

    def measure(self, knit_id: str) -> ContentInfo:
        """Checksum, size and file count of a stored tree (e.g. a Run output once the Run finished)."""
        return tree.summarise(self.path(knit_id))

    # ---- imports -------------------------------------------------------------------------------------------

    def import_dir(self, src: Path, knit_id: str, *, progress: Progress | None = None) -> ContentInfo:
        """Copy a user directory in as ``knit_id``; the whole tree is validated before a byte is copied."""
        self._check_new(knit_id)
        src = Path(src)
        if not src.is_dir():  # the top may be a symlink to a directory; nothing below it is followed
            raise InvalidInput(f"{str(src)!r} is not a directory", field="src")
        entries = tree.walk(src, validate=True)
        if any(kind == "l" for _, kind, _ in entries):
            check_tree_links(
                src, [rel for rel, kind, _ in entries if kind == "l"]
            )  # chains of links, checked physically before copying; again once staged
        with _Staging(self.root) as stage:
            digests = tree.copy_entries(src, entries, stage.path, progress, stage.tick)
            return stage.publish(knit_id, digests)

    def import_tar(self, fileobj: BinaryIO, knit_id: str, *, progress: Progress | None = None) -> ContentInfo:
        """Unpack a streamed tar (plain, gz, bz2 or xz: detected) as ``knit_id``, refusing unsafe members."""
        self._check_new(knit_id)
        with _Staging(self.root) as stage:
            digests: dict[str, str] = {}
            with archive.open_upload(fileobj) as upload:
                for member in upload:
                    archive.unpack_member(upload, member, str(stage.path), digests, progress, stage.tick)
            return stage.publish(knit_id, digests)

    def create_empty(self, knit_id: str) -> Path:
        """An empty directory for a Run's output; idempotent (a retried task may call it twice)."""
        where = self.root / _check_id(knit_id)
        try:
            tree.make_dir(str(where))
        except FileExistsError:
            if os.path.islink(where) or not where.is_dir():
                raise Conflict(f"Data {knit_id!r}: {where} exists and is not a directory") from None
        return where

    def delete(self, knit_id: str) -> None:
        """Remove the content of ``knit_id`` if any; moved aside first so nobody sees a half-deleted Data."""
        where = self.root / _check_id(knit_id)
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
        archive.write_tar(str(self.path(knit_id)), out, compress=gzip, progress=progress)

    def extract_to(self, knit_id: str, dest: Path) -> Path:
        """Copy the content to ``dest/<knit_id>/`` (``knit data pull -x``); appears there only when complete."""
        src = self.path(knit_id)
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        final = dest / knit_id
        if os.path.lexists(final):
            raise Conflict(f"{final} already exists")
        work = Path(tempfile.mkdtemp(dir=dest, prefix=f".{knit_id}."))
        try:
            os.chmod(work, 0o755)
            tree.copy_entries(src, tree.walk(src, validate=False), work)
            os.rename(work, final)
        except BaseException:
            tree.rmtree(work)
            raise
        return final

    # ---- housekeeping --------------------------------------------------------------------------------------

    def gc_staging(self, older_than_s: float = 3600) -> int:
        """Remove staging leftovers of crashed processes; returns how many were removed.

        Live imports touch their staging directory every minute, so keep ``older_than_s`` well above that.
        """
        base = self.root / STAGING
        if not base.is_dir():
            return 0
        removed = 0
        cutoff = time.time() - older_than_s
        for entry in os.scandir(base):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    tree.rmtree(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    # ---- internals -----------------------------------------------------------------------------------------

    def _check_new(self, knit_id: str) -> None:
        if os.path.lexists(self.root / _check_id(knit_id)):
            raise Conflict(f"Data {knit_id!r} already has content in the store")
