"""Time as Knitfab writes it: RFC3339 with milliseconds in UTC, stored as integer epoch milliseconds.

Integers make ``knit#timestamp`` pins exact and time windows portable across SQLite and PostgreSQL. Pins are
strict RFC3339; ``--since`` is Knitfab's loose form (``YYYY-mm-dd[THH[:MM[:SS[.fff]]]][TZ]``, local time when
the zone is left out).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from knit_provider.core.errors import InvalidInput, UsageError, shown

_LOOSE_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?)?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})?"
)
LOOSE_TIME_FORMAT = "YYYY-mm-dd[THH[:MM[:SS]]][TZ]"
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
        raise InvalidInput(f"not an RFC3339 time: {shown(text)}", field=field) from None
    if dt.tzinfo is None:
        if "T" in candidate or " " in candidate:
            raise InvalidInput(f"time needs a timezone (Z or +hh:mm): {shown(text)}", field=field)
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
        raise InvalidInput(f"not a duration like 1h30m, 90s or 250ms: {shown(text)}", field=field)
    return int(total)


def parse_loose_time(text: str, *, field: str = "since") -> int:
    """Knitfab's ``--since``: RFC3339 with the seconds, minutes, hours (and the zone) left out as wished; a
    missing part is zero, a missing zone is this machine's local time; ``T`` or a space between date and time."""
    if not isinstance(text, str):
        raise InvalidInput(f"not a time: {shown(text)}", field=field)
    found = _LOOSE_TIME.fullmatch(text.strip())
    if found is None:
        raise InvalidInput(
            f"not a time like {LOOSE_TIME_FORMAT} (e.g. 2024-10-31, 2024-10-31T01:23, 2024-10-31 01:23:45+09:00): "
            f"{shown(text)}",
            field=field,
        )
    parts = found.groupdict()
    fraction = (parts["fraction"] or "").ljust(6, "0")[:6]
    zone = parts["zone"]
    written = f"{parts['date']}T{parts['hour'] or '00'}:{parts['minute'] or '00'}:{parts['second'] or '00'}.{fraction}"
    try:
        moment = datetime.fromisoformat(written)
    except ValueError:
        raise InvalidInput(f"not a valid date or time: {shown(text)}", field=field) from None
    if zone is None:
        moment = moment.astimezone()  # a naive time is local time (as Knitfab reads it)
    else:
        moment = moment.replace(tzinfo=UTC if zone in "Zz" else datetime.strptime(zone, "%z").tzinfo)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def canonical_since(text: str | None, *, field: str = "since") -> str | None:
    """``--since`` as an exact RFC3339 time, read here (a remote ``knit`` sends it so: the zone is the user's)."""
    return None if text is None else format_ms(parse_loose_time(text, field=field))


def time_window(since: str | None, duration: str | None) -> tuple[int | None, int | None]:
    """``--since`` and ``--duration`` as ``[since, until)`` epoch ms; a duration alone is a usage error."""
    if duration is not None and since is None:
        raise UsageError("--duration needs --since", field="duration")
    since_ms = parse_loose_time(since, field="since") if since is not None else None
    until_ms = since_ms + parse_duration(duration) if since_ms is not None and duration is not None else None
    return since_ms, until_ms
