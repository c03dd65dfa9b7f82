"""Time as Knitfab writes it: RFC3339 with milliseconds in UTC, stored as integer epoch milliseconds.

Integers make ``knit#timestamp`` pins exact and time windows portable across SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from knit_provider.core.errors import InvalidInput

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_ms(epoch_ms: int) -> str:
    """``1700000000120`` -> ``2023-11-14T22:13:20.12+00:00``: Knitfab's (Go's ``.999``) layout, in UTC."""
    dt = datetime.fromtimestamp(epoch_ms // 1000, tz=UTC)
    fraction = f"{epoch_ms % 1000:03d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "+00:00"


def parse_rfc3339(text: str, *, field: str = "timestamp") -> int:
    """Parse an RFC3339 time (``Z`` or an offset; a date alone means midnight UTC) to epoch ms."""
    raw = text.strip()
    candidate = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        dt = datetime.fromisoformat(candidate)
    except ValueError:
        raise InvalidInput(f"not an RFC3339 time: {text!r}", field=field) from None
    if dt.tzinfo is None:
        if "T" in candidate or " " in candidate:
            raise InvalidInput(f"time needs a timezone (Z or +hh:mm): {text!r}", field=field)
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def parse_duration(text: str, *, field: str = "duration") -> int:
    """Go-style duration (``1h30m``, ``90s``, ``250ms``) to milliseconds, as Knitfab's ``--duration``."""
    raw = text.strip()
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_MS[match.group(2)]
        pos = match.end()
    if not raw or pos != len(raw):
        raise InvalidInput(f"not a duration like 1h30m, 90s or 250ms: {text!r}", field=field)
    return int(total)
