"""A worker's cache of Data fetched from an object store, for Runs to mount read-only.

Keyed by knit id (a Data never changes, so an entry once complete is valid for good) and shared by every Run on
the machine, across processes. Layout under the cache root::

    data/<knit id>/     the tree, complete (it appears by one rename)
    used/<knit id>      "<size in bytes> <last use, ns>" (LRU; file times are too coarse to order quick uses)
    locks/<knit id>     flock: exclusive while fetching or evicting, shared while a Run uses the entry
    tmp/                fetches in progress, evictions in progress
    .evict              flock serialising the choice of what to evict

``hold(knit_ids)`` fetches what is missing (one fetcher per entry: a second Run waiting for the same Data finds
it complete) and keeps a shared lock on each entry until the Run ends, so an entry in use is never evicted.
The entries are bounded by ``limit`` bytes, least recently used first out; when every entry is in use the cache
may hold more for a while (a Run never waits for another to finish).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from knit_provider.storage import tree

log = logging.getLogger(__name__)

#: ``fetch(knit_id, into)`` writes the Data's tree into the empty directory ``into`` and returns its size.
Fetch = Callable[[str, Path], int]
#: ``size_of(knit_id)``: the bytes a Data will take (its manifest's size), to make room before fetching.
SizeOf = Callable[[str], int]


class InputCache:
    def __init__(self, root: Path, limit: int) -> None:
        self.root = Path(root)
        self.limit = limit
        for sub in ("data", "used", "locks", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def path(self, knit_id: str) -> Path:
        return self.root / "data" / knit_id

    def complete(self, knit_id: str) -> bool:
        return self.path(knit_id).is_dir() and (self.root / "used" / knit_id).is_file()

    @contextmanager
    def hold(self, knit_ids: Sequence[str], fetch: Fetch, size_of: SizeOf) -> Iterator[list[Path]]:
        """Each Data complete in the cache and held (never evicted) until the block ends; yields their paths."""
        held: list[int] = []
        try:
            for knit_id in dict.fromkeys(knit_ids):
                held.append(self._acquire(knit_id, fetch, size_of))
            yield [self.path(k) for k in knit_ids]
        finally:
            for fd in held:
                os.close(fd)  # releases the shared lock

    def _acquire(self, knit_id: str, fetch: Fetch, size_of: SizeOf) -> int:
        fd = os.open(self.root / "locks" / knit_id, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one fetcher; and no eviction under us
            if not self.complete(knit_id):
                self._fetch(knit_id, fetch, size_of)
            self._stamp(knit_id, self._read(knit_id)[0])
            fcntl.flock(fd, fcntl.LOCK_SH)  # in use: others may use it too, nobody may evict it
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _fetch(self, knit_id: str, fetch: Fetch, size_of: SizeOf) -> None:
        tree.rmtree(self.path(knit_id))  # a half entry of a crashed process (no size file): start over
        self.make_room(size_of(knit_id), keep=knit_id)
        work = Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix=f"fetch-{knit_id[:8]}-"))
        try:
            os.chmod(work, 0o755)
            size = fetch(knit_id, work)
            self._stamp(knit_id, size)
            os.rename(work, self.path(knit_id))
        except BaseException:
            tree.rmtree(work)
            raise

    def _stamp(self, knit_id: str, size: int) -> None:
        marker = self.root / "used" / knit_id
        partial = marker.with_name(f".{knit_id}.{os.getpid()}.{threading.get_ident()}")
        partial.write_text(f"{size} {time.time_ns()}")
        os.replace(partial, marker)

    def _read(self, knit_id: str) -> tuple[int, int]:
        """(size, last use in ns) of an entry; (0, 0) when unreadable."""
        with contextlib.suppress(OSError, ValueError):
            size, used = (self.root / "used" / knit_id).read_text().split()
            return int(size), int(used)
        return 0, 0

    def _entries(self) -> list[tuple[int, str, int]]:
        """(last use, knit id, size) of every entry."""
        found = []
        for marker in (self.root / "used").iterdir():
            if not marker.name.startswith("."):
                size, used = self._read(marker.name)
                found.append((used, marker.name, size))
        return found

    def size(self) -> int:
        return sum(size for _, _, size in self._entries())

    def make_room(self, need: int, *, keep: str | None = None) -> list[str]:
        """Evict least recently used entries nobody holds until ``need`` more bytes fit; returns the evicted ids."""
        evicted: list[str] = []
        with open(self.root / ".evict", "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            entries = self._entries()
            total = sum(size for _, _, size in entries)
            for _, knit_id, size in sorted(entries):
                if total + need <= self.limit:
                    break
                if knit_id != keep and self._evict(knit_id):
                    total -= size
                    evicted.append(knit_id)
            if total + need > self.limit:
                log.warning("the input cache %s holds %d bytes in use; %d more exceed its %d", self.root, total,
                            need, self.limit)  # fmt: skip
        return evicted

    def _evict(self, knit_id: str) -> bool:
        """Remove one entry if nobody holds or fetches it (its lock taken without waiting)."""
        fd = os.open(self.root / "locks" / knit_id, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            (self.root / "used" / knit_id).unlink(missing_ok=True)
            if self.path(knit_id).exists():
                aside = self.root / "tmp" / f"evicted-{knit_id}-{os.urandom(4).hex()}"
                os.rename(self.path(knit_id), aside)
                tree.rmtree(aside)
            return True
        finally:
            os.close(fd)

    def sweep_tmp(self, older_than_s: float) -> int:
        """Remove fetches and evictions a killed process left in ``tmp/``; returns how many."""
        removed = 0
        now = time.time()
        for entry in (self.root / "tmp").iterdir():
            with contextlib.suppress(OSError):
                if now - entry.lstat().st_mtime >= older_than_s:
                    tree.rmtree(entry)
                    removed += 1
        return removed
