"""What every layer says about a purged Data (Knitfab 2.0's ``knit data purge``): how to tell, and the error."""

from __future__ import annotations

from collections.abc import Iterable

from knit_provider.core.errors import Gone
from knit_provider.core.tags import KEY_TRANSIENT, TRANSIENT_PURGED

PURGED_TAG = f"{KEY_TRANSIENT}:{TRANSIENT_PURGED}"


def is_purged(tags: Iterable[str]) -> bool:
    """Whether a Data's JSON tags (``key:value`` texts) mark it purged."""
    return PURGED_TAG in tags


def gone(knit_id: str) -> Gone:
    """The error for reading a purged Data's content (410 over HTTP, exit 1 in the CLI)."""
    return Gone(f"data {knit_id} was purged (knit data purge): its content no longer exists")
