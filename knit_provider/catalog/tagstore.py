"""Interned tags: each distinct ``key:value`` is stored once and referred to by a small integer id."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from knit_provider.catalog.bulk import chunked
from knit_provider.catalog.models import data_tags_t, tags_t
from knit_provider.catalog.sqlparams import PerDialect, member_of
from knit_provider.core.tags import Tag

_TAG_CHUNK = 50


#: Built once per dialect; over-fetches the keys x values cross product, filtered in Python.
_TAGS_BY_KEYS_AND_VALUES = PerDialect(
    lambda pg: select(tags_t.c.tag_id, tags_t.c.key, tags_t.c.value).where(
        member_of(tags_t.c.key, "keys", postgresql=pg), member_of(tags_t.c.value, "values", postgresql=pg)
    )
)


def lookup_tag_ids(conn: Connection, tags: Iterable[Tag]) -> dict[Tag, int]:
    """Ids of the tags that exist already; unknown tags are simply absent from the result."""
    wanted = list(set(tags))
    found: dict[Tag, int] = {}
    for part in chunked(wanted, _TAG_CHUNK):
        chunk = set(part)
        params = {"keys": sorted({t.key for t in chunk}), "values": sorted({t.value for t in chunk})}
        for tag_id, key, value in conn.execute(_TAGS_BY_KEYS_AND_VALUES(conn), params):
            if Tag(key, value) in chunk:
                found[Tag(key, value)] = tag_id
    return found


def intern_tags(conn: Connection, tags: Iterable[Tag]) -> dict[Tag, int]:
    """Ids of the tags, creating the missing ones (safe: writers are serialized)."""
    wanted = set(tags)
    ids = lookup_tag_ids(conn, wanted)
    missing = wanted - ids.keys()
    if missing:
        conn.execute(insert(tags_t), [{"key": t.key, "value": t.value} for t in missing])
        ids.update(lookup_tag_ids(conn, missing))
    return ids


def tags_of_data(conn: Connection, knit_ids: Iterable[str]) -> dict[str, set[Tag]]:
    """User tags of each Data (every requested id is a key, possibly with an empty set)."""
    ids = list(knit_ids)
    result: dict[str, set[Tag]] = {knit_id: set() for knit_id in ids}
    for chunk in chunked(ids):
        rows = conn.execute(
            select(data_tags_t.c.knit_id, tags_t.c.key, tags_t.c.value)
            .join(tags_t, tags_t.c.tag_id == data_tags_t.c.tag_id)
            .where(data_tags_t.c.knit_id.in_(chunk))
        )
        for knit_id, key, value in rows:
            result[knit_id].add(Tag(key, value))
    return result
