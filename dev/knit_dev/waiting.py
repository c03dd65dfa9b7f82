"""Waiting on a real system (Airflow, a cluster stand-in) in tests: poll until true, else fail naming what."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.5) -> object:
    """The first truthy value of ``predicate()`` within ``timeout`` seconds; an AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s: {what}")
