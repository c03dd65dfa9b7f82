"""Bounded lists: a page of Data, Runs or Plans, newest first, and the opaque cursors leading to its neighbours.

Pages are cut by keyset, never by offset: a cursor holds the sort key of the item it continues from, the
creation time and the id (both immutable), so a page boundary never skips or repeats an item while new items
arrive or Runs change status; new items are newer than any cursor and appear on the first page. ``older`` cursors
continue after an item (the next page), ``newer`` cursors before one (the previous page).

A cursor is ``base64url("<kind>:<o|n>:<created ms>:<id>")``: opaque to clients, checked strictly here, and bound to
its kind, so a Run cursor given to the Data list is refused with a clear message instead of misleading.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Literal

from knit_provider.core.errors import InvalidInput, shown

DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000
KINDS = ("data", "run", "plan")
Direction = Literal["older", "newer"]
_DIRECTIONS: dict[str, Direction] = {"o": "older", "n": "newer"}


@dataclass(frozen=True)
class Key:
    """Where an item stands in its list: (creation time in ms, id)."""

    created_at: int
    ident: str


@dataclass(frozen=True)
class Cursor:
    kind: str
    direction: Direction
    key: Key

    def encode(self) -> str:
        text = f"{self.kind}:{self.direction[0]}:{self.key.created_at}:{self.key.ident}"
        return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class Page:
    """One page, newest first; ``next`` leads to older items, ``prev`` to newer ones (None: there are none).

    ``total`` counts every match when the list was asked to count, up to a cap (``total_capped``: more exist).
    """

    items: list[dict]
    next: str | None = None
    prev: str | None = None
    total: int | None = None
    total_capped: bool = False
    extra: dict = field(default_factory=dict)


def parse_cursor(token: str | None, kind: str) -> Cursor | None:
    """The cursor a client sent back (None for the first page); anything else is a one-line error."""
    if token is None or token == "":
        return None
    bad = InvalidInput(f"not a cursor of the {kind} list: {shown(token)} (use the one a page gave)", field="cursor")
    if len(token) > 200:
        raise bad
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise bad from None
    parts = text.split(":", 3)
    if len(parts) != 4 or parts[0] != kind or parts[1] not in _DIRECTIONS or not parts[2].isdigit() or not parts[3]:
        raise bad
    return Cursor(kind, _DIRECTIONS[parts[1]], Key(int(parts[2]), parts[3]))


def check_limit(limit: int | str | None, *, default: int = DEFAULT_LIMIT) -> int:
    """A page size from 1 to ``MAX_LIMIT``; None means ``default``."""
    if limit is None:
        return default
    if isinstance(limit, str):
        if not limit.strip().isdigit():
            raise InvalidInput(f"must be a whole number from 1 to {MAX_LIMIT}, not {shown(limit)}", field="limit")
        limit = int(limit)
    if isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"must be from 1 to {MAX_LIMIT}, not {shown(limit)}", field="limit")
    return limit


def neighbours(kind: str, keys: list[Key], more: bool, cursor: Cursor | None) -> tuple[str | None, str | None]:
    """The cursors to the older and newer neighbours of a page whose items have ``keys`` (newest first); ``more``
    says whether the query found items beyond the page in the direction it was read."""
    if not keys:
        if cursor is None:
            return None, None
        # an empty page past either end: offer the way back from where the cursor stood
        if cursor.direction == "older":
            return None, Cursor(kind, "newer", cursor.key).encode()
        return Cursor(kind, "older", cursor.key).encode(), None
    reading_older = cursor is None or cursor.direction == "older"
    older_exists = more if reading_older else True
    newer_exists = cursor is not None and (reading_older or more)
    next_token = Cursor(kind, "older", keys[-1]).encode() if older_exists else None
    prev_token = Cursor(kind, "newer", keys[0]).encode() if newer_exists else None
    return next_token, prev_token
