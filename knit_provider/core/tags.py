"""Tags: ``key:value`` pairs on Data and in Plans, and the derived ``knit#`` system tags.

Users may never add or remove ``knit#`` tags; the catalog derives them from the Data's producing Run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from knit_provider.core.errors import InvalidInput

SYSTEM_PREFIX = "knit#"
KEY_ID = "knit#id"
KEY_TIMESTAMP = "knit#timestamp"
KEY_TRANSIENT = "knit#transient"
TRANSIENT_PROCESSING = "processing"
TRANSIENT_FAILED = "failed"
KEY_NAME = "name"


@dataclass(frozen=True, order=True)
class Tag:
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}:{self.value}"

    @property
    def is_system(self) -> bool:
        return self.key.startswith(SYSTEM_PREFIX)

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value}


def parse_tag(text: str, *, field: str = "tag") -> Tag:
    """``" type : model "`` -> ``Tag("type", "model")``: key before the first ``:``, both sides trimmed."""
    if not isinstance(text, str):
        raise InvalidInput(f"a tag must be a string 'key:value', got {text!r}", field=field)
    key, sep, value = text.partition(":")
    key, value = key.strip(), value.strip()
    if not sep:
        raise InvalidInput(f"tag {text!r} has no ':' (write key:value)", field=field)
    if not key:
        raise InvalidInput(f"tag {text!r} has an empty key", field=field)
    if not value:
        raise InvalidInput(f"tag {text!r} has an empty value", field=field)
    if any(ch in key for ch in "\n\r\t") or any(ch in value for ch in "\n\r"):
        raise InvalidInput(f"tag {text!r} contains a line break or tab", field=field)
    return Tag(key, value)


def parse_user_tags(texts: Iterable[str], *, field: str = "tags") -> list[Tag]:
    """Parse tags a user may set on Data; ``knit#`` tags are refused, duplicates collapse, order kept."""
    tags: list[Tag] = []
    for index, text in enumerate(texts):
        tag = parse_tag(text, field=f"{field}[{index}]")
        if tag.is_system:
            raise InvalidInput(f"system tag {str(tag)!r} cannot be set or removed by users", field=f"{field}[{index}]")
        if tag not in tags:
            tags.append(tag)
    return tags


def sort_tags(tags: Iterable[Tag]) -> list[Tag]:
    """Knitfab's output order: by key, then value (system tags fall where ``knit#`` sorts)."""
    return sorted(set(tags))
