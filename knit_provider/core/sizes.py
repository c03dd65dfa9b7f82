"""Byte sizes as people write them in settings: ``10GiB``, ``512MiB``, or a plain number of bytes."""

from __future__ import annotations

import re

from knit_provider.core.errors import InvalidInput

_UNITS = {"": 1, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_SIZE = re.compile(r"(\d+)\s*([a-zA-Z]*)")


def parse_size(text: str, field: str) -> int:
    """``10GiB``, ``512MiB`` or a plain number of bytes; ``field`` names the setting in the error."""
    found = _SIZE.fullmatch(text.strip())
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS:
        raise InvalidInput(f"{field}: not a size such as 10GiB, 512MiB or 1000000: {text!r}", field=field)
    return int(found.group(1)) * _UNITS[unit]
