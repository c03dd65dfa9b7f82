"""Byte progress on stderr for long transfers (rich), silent for small ones."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

LARGE = 8 * 1024 * 1024


def tree_size(root: Path) -> int:
    """The bytes of the regular files under ``root``, for the progress bar only: entries that cannot be read
    or vanish are skipped here (the push itself reports them)."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


@contextmanager
def byte_progress(label: str, total: int | None) -> Iterator[Callable[[int], None] | None]:
    """Yield a ``progress(n_bytes)`` callback when the transfer is large, else None."""
    if total is not None and total < LARGE:
        yield None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(label, total=total)
        try:
            yield lambda n: progress.advance(task, n)
        except BaseException:
            progress.live.transient = True  # a failed transfer leaves its one-line error, not a half bar
            raise
