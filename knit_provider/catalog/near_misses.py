"""Data that almost fill a Plan input: usable Data lacking exactly one of its tags (``knit explain plan``, the Plan
page). With one tag more they would be nominated, so these are where a misspelled or forgotten tag hides.

For an input of N tags: for each of its tags T, the usable Data (Run done, not purged, pins matched) carrying the
other N-1 tags but not T. Those carrying a tag like T (``core.similar``: case, spacing, one edit) come first, then
the newest. For a one-tag input, "all but one" is every Data, so only the look-alikes are listed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, exists, func, literal, or_, select

from knit_provider.catalog.explain_reads import InputFacts
from knit_provider.catalog.models import data_t, data_tags_t, runs_t, tags_t
from knit_provider.catalog.tagstore import lookup_tag_ids
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.similar import SimilarIndex
from knit_provider.core.tags import Tag


@dataclass(frozen=True)
class NearMiss:
    knit_id: str
    missing: Tag
    alike: bool  # it carries a tag like the missing one


def look_alike_tag_ids(conn: Connection, wanted: Tag) -> dict[int, Tag]:
    """Interned tags similar to ``wanted``: found among those sharing its key or its value (either up to case)."""
    index = SimilarIndex([wanted])
    rows = conn.execute(
        select(tags_t.c.tag_id, tags_t.c.key, tags_t.c.value).where(
            or_(
                func.lower(tags_t.c.key) == wanted.key.lower(),
                func.lower(tags_t.c.value) == wanted.value.lower(),
            )
        )
    )
    return {tag_id: Tag(key, value) for tag_id, key, value in rows if index.like(Tag(key, value))}


def _usable(point: InputFacts):
    conditions = [runs_t.c.status == RunStatus.DONE.value, data_t.c.purged_at.is_(None)]
    if point.pin_knit_id is not None:
        conditions.append(data_t.c.knit_id == point.pin_knit_id)
    if point.pin_timestamp is not None:
        conditions.append(runs_t.c.finished_at == point.pin_timestamp)
    return conditions


def near_misses(conn: Connection, point: InputFacts, limit: int) -> tuple[list[NearMiss], int]:
    """Up to ``limit`` Data lacking one of the input's tags (look-alikes first, then newest), and how many in all."""
    ids = lookup_tag_ids(conn, point.tags)
    found: list[tuple[bool, int, str, Tag]] = []
    total = 0
    for missing in sorted(point.tags):
        others = [ids.get(t) for t in point.tags if t != missing]
        if None in others:  # a tag no Data has ever carried: nothing carries all the others
            continue
        alike_ids = list(look_alike_tag_ids(conn, missing))
        if not others and not alike_ids:
            continue  # a one-tag input: only look-alikes count, and there is none
        alike = (
            exists().where(data_tags_t.c.knit_id == data_t.c.knit_id, data_tags_t.c.tag_id.in_(alike_ids))
            if alike_ids
            else literal(False)
        )
        query = select(data_t.c.knit_id, data_t.c.created_at, alike.label("alike")).join(
            runs_t, runs_t.c.run_id == data_t.c.run_id
        )
        query = query.where(*_usable(point))
        if others:
            carrying = (
                select(data_tags_t.c.knit_id)
                .where(data_tags_t.c.tag_id.in_(others))
                .group_by(data_tags_t.c.knit_id)
                .having(func.count() == len(others))
            )
            query = query.where(data_t.c.knit_id.in_(carrying))
        else:
            query = query.where(alike)
        if missing in ids:
            query = query.where(
                ~exists().where(and_(data_tags_t.c.knit_id == data_t.c.knit_id, data_tags_t.c.tag_id == ids[missing]))
            )
        total += conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        ordered = query.order_by(alike.desc(), data_t.c.created_at.desc(), data_t.c.knit_id).limit(limit)
        found += [(bool(row.alike), row.created_at, row.knit_id, missing) for row in conn.execute(ordered)]
    found.sort(key=lambda f: (not f[0], -f[1], f[2]))
    return [NearMiss(knit_id, missing, alike) for alike, _, knit_id, missing in found[:limit]], total
