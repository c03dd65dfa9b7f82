"""Tags: ``key:value`` pairs on Data and in Plans, and the derived ``knit#`` system tags.

Users may never add or remove ``knit#`` tags; the catalog derives them from the Data's producing Run.

One rule for every tag, whatever its source (``-t``, ``data push -n``'s directory name, plan YAML, knitenv, a
REST query): ``Tag`` itself enforces it, so no path can store a tag another path would refuse. Key and value are
trimmed; the key is non-empty and has no ``:``; the value may be empty (as in Knitfab: ``k2:``); neither holds a
control character (NUL, line breaks, tabs, ...), which PostgreSQL would refuse and SQLite would store; both fit
the catalog's columns.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from knit_provider.core.errors import InvalidInput, shown

SYSTEM_PREFIX = "knit#"
KEY_ID = "knit#id"
KEY_TIMESTAMP = "knit#timestamp"
KEY_TRANSIENT = "knit#transient"
TRANSIENT_PROCESSING = "processing"
TRANSIENT_FAILED = "failed"
#: Knitfab 2.0: the Data's bytes were deleted (``knit data purge``); its tags, Run and lineage stay.
TRANSIENT_PURGED = "purged"
KEY_NAME = "name"

#: the catalog's column sizes (``knit_tags.key`` and ``.value``)
MAX_KEY_LENGTH = 255
MAX_VALUE_LENGTH = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


_CONTROL_NAMES = {"\0": "NUL", "\t": "tab", "\n": "line feed", "\r": "carriage return"}


def control_character(text: str) -> str | None:
    """The first control character in ``text``, as ``U+000A (line feed)``; None when there is none."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    char = found.group()
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "control character").lower()
    return f"U+{ord(char):04X} ({name})"


def check_tag(key: object, value: object, *, field: str | None = None, written: str | None = None) -> tuple[str, str]:
    """The tag rule: ``(key, value)`` trimmed, or ``InvalidInput`` naming ``field`` and the tag (as ``written``)."""
    if not isinstance(key, str) or not isinstance(value, str):
        raise InvalidInput(f"a tag's key and value must be strings, got {shown(key)} and {shown(value)}", field=field)
    key, value = key.strip(), value.strip()
    text = shown(f"{key}:{value}" if written is None else written)
    if not key:
        raise InvalidInput(f"tag {text} has an empty key", field=field)
    if ":" in key:
        raise InvalidInput(f"tag key {shown(key)} contains ':' (the key ends at the first ':')", field=field)
    for part, what, limit in ((key, "key", MAX_KEY_LENGTH), (value, "value", MAX_VALUE_LENGTH)):
        bad = control_character(part)
        if bad is not None:
            raise InvalidInput(f"tag {text}: its {what} contains the control character {bad}", field=field)
        if len(part) > limit:
            raise InvalidInput(f"tag {text}: its {what} is longer than {limit} characters", field=field)
    return key, value


@dataclass(frozen=True, order=True)
class Tag:
    """A valid tag: constructing one checks and trims it (``check_tag``), so every source obeys one rule."""

    key: str
    value: str

    def __post_init__(self) -> None:
        key, value = self.key, self.value
        if (  # the common case, checked cheaply: the catalog builds many Tags from its rows
            type(key) is str
            and type(value) is str
            and 0 < len(key) <= MAX_KEY_LENGTH
            and len(value) <= MAX_VALUE_LENGTH
            and ":" not in key
            and _CONTROL.search(key + value) is None
            and key.strip() == key
            and value.strip() == value
        ):
            return
        key, value = check_tag(key, value)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "value", value)

    def __str__(self) -> str:
        return f"{self.key}:{self.value}"

    @property
    def is_system(self) -> bool:
        return self.key.startswith(SYSTEM_PREFIX)

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


def parse_tag(text: object, *, field: str = "tag") -> Tag:
    """``" type : model "`` -> ``Tag("type", "model")``: key before the first ``:``, both sides trimmed."""
    if not isinstance(text, str):
        raise InvalidInput(f"a tag must be a string 'key:value', got {shown(text)}", field=field)
    key, sep, value = text.partition(":")
    if not sep:
        raise InvalidInput(f"tag {shown(text)} has no ':' (write key:value)", field=field)
    return Tag(*check_tag(key, value, field=field, written=text))


def parse_tag_key(text: object, *, field: str = "key") -> str:
    """A tag key given alone (``--remove-key``): the same rule as a tag's key."""
    if not isinstance(text, str):
        raise InvalidInput(f"a tag key must be a string, got {shown(text)}", field=field)
    return check_tag(text, "", field=field)[0]


def parse_user_tags(texts: Iterable[str], *, field: str = "tags") -> list[Tag]:
    """Parse tags a user may set on Data; ``knit#`` tags are refused, duplicates collapse, order kept."""
    tags: list[Tag] = []
    for index, text in enumerate(texts):
        tag = parse_tag(text, field=f"{field}[{index}]")
        if tag.is_system:
            raise InvalidInput(
                f"system tag {shown(str(tag))} cannot be set or removed by users", field=f"{field}[{index}]"
            )
        if tag not in tags:
            tags.append(tag)
    return tags


def sort_tags(tags: Iterable[Tag]) -> list[Tag]:
    """Knitfab's output order: by key, then value (system tags fall where ``knit#`` sorts)."""
    return sorted(set(tags))
