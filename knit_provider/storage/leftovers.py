"""What a killed process can leave in the store, found by age: staging directories and unclaimed Data directories.

An import writes into ``.staging/<random>/`` and renames it to ``<knit id>/`` only when complete; the catalog row
comes right after. ``kill -9`` during the copy leaves the staging directory; ``kill -9`` between the rename and the
catalog's commit leaves a Data directory no Data points to. Both are only *candidates* here: the store cannot tell
an interrupted import from a running one, so only entries untouched for a grace period are listed (live imports
touch their staging directory every ``HEARTBEAT_S``, and a staging directory is touched again just before its
rename), and a Data directory is an orphan only if the catalog has no Data of that id (the caller asks it).
"""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from knit_provider.core.errors import InvalidInput

STAGING = ".staging"
LAST_SWEEP = ".last-sweep"
KNIT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


def check_id(knit_id: str) -> str:
    """A knit id becomes a directory or object name: one plain component, never hidden (``.staging`` is ours)."""
    if not isinstance(knit_id, str) or not KNIT_ID.fullmatch(knit_id):
        raise InvalidInput(f"{knit_id!r} is not a valid knit id (letters, digits, '.', '_', '-')", field="knit_id")
    return knit_id


@dataclass(frozen=True)
class Leftover:
    """A directory of the store, untouched for ``age_s`` seconds."""

    name: str  # relative to the store root: ".staging/tmpab12" or "<knit id>"
    knit_id: str | None  # the Data directory's knit id; None for a staging directory
    age_s: float


def _aged(entries: list[os.DirEntry], older_than_s: float) -> list[tuple[os.DirEntry, float]]:
    now = time.time()
    found = []
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        age = now - st.st_mtime
        if age >= older_than_s and (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            found.append((entry, age))
    return found


def staging_leftovers(root: Path, older_than_s: float) -> list[Leftover]:
    """Staging entries (interrupted imports, deletions cut short) older than ``older_than_s``."""
    base = root / STAGING
    if not base.is_dir():
        return []
    with os.scandir(base) as it:
        entries = list(it)
    return [Leftover(f"{STAGING}/{e.name}", None, age) for e, age in _aged(entries, older_than_s)]


def data_directories(root: Path, older_than_s: float) -> list[Leftover]:
    """Every Data directory older than ``older_than_s`` (hidden entries such as ``.staging`` are not Data)."""
    with os.scandir(root) as it:
        entries = [e for e in it if KNIT_ID.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    return [Leftover(e.name, e.name, age) for e, age in _aged(entries, older_than_s)]


def size_of(path: Path) -> int:
    """Bytes of the regular files under ``path`` (for reports); what vanishes meanwhile counts nothing."""
    if not path.is_dir():
        return path.stat().st_size if path.exists() else 0
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def claim_sweep(root: Path, every_s: float) -> bool:
    """True (and the mark renewed) when no sweep of this store was claimed in the last ``every_s`` seconds, by any
    process: the generator's passes ask on each start, and at most one of them walks the store that often."""
    mark = root / LAST_SWEEP
    try:
        if time.time() - mark.stat().st_mtime < every_s:
            return False
    except FileNotFoundError:
        pass
    mark.touch()
    os.utime(mark)
    return True
