"""Data in the catalog: uploads, tag edits, and finding Data by tags, transience and time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Select, delete, exists, func, insert, or_, select

from knit_provider.catalog import paging
from knit_provider.catalog.bulk import insert_all
from knit_provider.catalog.causes import TAG_EDIT, UPLOAD, Cause
from knit_provider.catalog.models import (
    UPLOAD_PLAN_ID,
    data_t,
    data_tags_t,
    outputs_t,
    runs_t,
    tags_t,
)
from knit_provider.catalog.projection import project_upload, reproject_data
from knit_provider.catalog.tagstore import intern_tags, lookup_tag_ids
from knit_provider.core.errors import InvalidInput, NotFound
from knit_provider.core.lifecycle import LIVE, TERMINAL, RunStatus
from knit_provider.core.paging import Cursor, Key
from knit_provider.core.tags import (
    KEY_ID,
    KEY_TIMESTAMP,
    KEY_TRANSIENT,
    SYSTEM_PREFIX,
    TRANSIENT_FAILED,
    TRANSIENT_PROCESSING,
    TRANSIENT_PURGED,
    Tag,
)
from knit_provider.core.timefmt import now_ms, parse_rfc3339

_upload_output_ids: dict[str, int] = {}


def upload_output_id(conn: Connection) -> int:
    key = conn.engine.url.render_as_string(hide_password=True)
    if key not in _upload_output_ids:
        _upload_output_ids[key] = conn.execute(
            select(outputs_t.c.output_id).where(outputs_t.c.plan_id == UPLOAD_PLAN_ID)
        ).scalar_one()
    return _upload_output_ids[key]


def register_upload(
    conn: Connection, knit_id: str, tags: Sequence[Tag], *, checksum: str | None, size: int | None
) -> tuple[str, list[str]]:
    """Record an upload as a done Run of ``knit#uploaded`` with its Data; return (run id, new run ids)."""
    now = now_ms()
    run_id = str(uuid.uuid4())
    cause = Cause.of(conn, UPLOAD, knit_id)
    run = {"run_id": run_id, "plan_id": UPLOAD_PLAN_ID, "status": RunStatus.DONE.value, "combo_key": run_id,
           "created_at": now, "updated_at": now, "finished_at": now, **cause.columns()}  # fmt: skip
    data = {"knit_id": knit_id, "run_id": run_id, "output_id": upload_output_id(conn), "checksum": checksum,
            "size": size, "created_at": now}  # fmt: skip
    ids = intern_tags(conn, tags) if tags else {}
    insert_all(
        conn,
        [(runs_t, [run]), (data_t, [data]), (data_tags_t, [{"knit_id": knit_id, "tag_id": i} for i in ids.values()])],
    )
    return run_id, project_upload(conn, knit_id, now, cause)


def require_data(conn: Connection, knit_id: str) -> dict:
    row = conn.execute(select(data_t).where(data_t.c.knit_id == knit_id)).mappings().first()
    if row is None:
        raise NotFound(f"data not found: {knit_id}")
    return dict(row)


def edit_tags(
    conn: Connection, knit_id: str, *, add: Sequence[Tag] = (), remove: Sequence[Tag] = (), remove_keys=()
) -> list[str]:
    """Remove (by tag, then by key) before adding, in one transaction; then renominate."""
    for key in remove_keys:
        if key.startswith(SYSTEM_PREFIX):
            raise InvalidInput(f"system tag key {key!r} cannot be removed", field="remove-key")
    require_data(conn, knit_id)
    if remove:
        ids = list(lookup_tag_ids(conn, remove).values())
        if ids:
            conn.execute(delete(data_tags_t).where(data_tags_t.c.knit_id == knit_id, data_tags_t.c.tag_id.in_(ids)))
    if remove_keys:
        by_key = select(tags_t.c.tag_id).where(tags_t.c.key.in_(list(remove_keys)))
        conn.execute(delete(data_tags_t).where(data_tags_t.c.knit_id == knit_id, data_tags_t.c.tag_id.in_(by_key)))
    if add:
        ids = intern_tags(conn, add)
        present = set(conn.execute(select(data_tags_t.c.tag_id).where(data_tags_t.c.knit_id == knit_id)).scalars())
        rows = [{"knit_id": knit_id, "tag_id": ids[t]} for t in set(add) if ids[t] not in present]
        if rows:
            conn.execute(insert(data_tags_t), rows)
    return reproject_data(conn, [knit_id], Cause.of(conn, TAG_EDIT, knit_id))


#: a tag carried by more Data than this is "broad": a search for it walks the newest-first index and tests each
#: Data (``EXISTS``) instead of gathering and sorting every match (SQLite would fetch them all for one page)
BROAD_TAG = 2_000


@dataclass(frozen=True)
class DataSearch:
    """A Data search: ``query`` selects ``(knit_id, created_at)`` of the matches, unordered; ``count_query`` has
    as many rows (cheaper when only tags filter: the tag index alone)."""

    query: Select
    count_query: Select


def data_query(
    conn: Connection,
    tags: Sequence[Tag] = (),
    *,
    transient: str = "both",
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> DataSearch | None:
    """The Data carrying all ``tags`` (system tags understood); None when a tag is on no Data at all (nothing can
    match).

    ``transient``: ``both``; ``no`` (ready to use: its Run done, not purged); ``yes`` (the rest: processing, failed
    or purged); ``purged``. The Runs table is joined only when a filter reads it, so a plain or tag-only list
    is read from the Data's own indexes.
    """
    if transient not in ("both", "yes", "no", "purged"):
        raise InvalidInput(f"must be both, yes, no or purged, not {transient!r}", field="transient")
    conditions = []
    reads_runs = transient in ("yes", "no") or since_ms is not None or until_ms is not None
    user = [t for t in tags if not t.is_system]
    for tag in (t for t in tags if t.is_system):
        if tag.key == KEY_ID:
            conditions.append(data_t.c.knit_id == tag.value)
            continue
        reads_runs = reads_runs or tag.key in (KEY_TIMESTAMP, KEY_TRANSIENT) and tag.value != TRANSIENT_PURGED
        if tag.key == KEY_TIMESTAMP:
            stamp = parse_rfc3339(tag.value, field=str(tag))
            conditions += [runs_t.c.finished_at == stamp, runs_t.c.status.in_([s.value for s in TERMINAL])]
        elif tag.key == KEY_TRANSIENT and tag.value == TRANSIENT_PROCESSING:
            conditions += [runs_t.c.status.in_([s.value for s in LIVE]), data_t.c.purged_at.is_(None)]
        elif tag.key == KEY_TRANSIENT and tag.value == TRANSIENT_FAILED:
            conditions += [runs_t.c.status.in_(["failed", "invalidated"]), data_t.c.purged_at.is_(None)]
        elif tag.key == KEY_TRANSIENT and tag.value == TRANSIENT_PURGED:
            conditions.append(data_t.c.purged_at.is_not(None))
        else:
            raise InvalidInput(f"unknown system tag {str(tag)!r}", field="tag")
    query = select(data_t.c.knit_id, data_t.c.created_at)
    carrying, tag_conditions = None, []
    if reads_runs:
        query = query.join(runs_t, runs_t.c.run_id == data_t.c.run_id)
    if user:
        ids = lookup_tag_ids(conn, user)
        if len(ids) < len(set(user)):
            return None
        carrying = (
            select(data_tags_t.c.knit_id)
            .where(data_tags_t.c.tag_id.in_(list(ids.values())))
            .group_by(data_tags_t.c.knit_id)
            .having(func.count() == len(ids))
        )
        if _rarest(conn, ids.values()) > BROAD_TAG:
            # tested per Data while the newest-first index is walked: a page reads about limit / share rows
            tag_conditions = [
                exists().where(data_tags_t.c.knit_id == data_t.c.knit_id, data_tags_t.c.tag_id == tag_id)
                for tag_id in ids.values()
            ]
        else:  # few Data carry it: gather them and sort those
            tag_conditions = [data_t.c.knit_id.in_(carrying)]
    if transient == "yes":  # not usable: processing, failed or purged
        conditions.append(or_(runs_t.c.status != RunStatus.DONE.value, data_t.c.purged_at.is_not(None)))
    elif transient == "no":
        conditions += [runs_t.c.status == RunStatus.DONE.value, data_t.c.purged_at.is_(None)]
    elif transient == "purged":
        conditions.append(data_t.c.purged_at.is_not(None))
    if since_ms is not None:
        conditions.append(runs_t.c.finished_at >= since_ms)
    if until_ms is not None:
        conditions.append(runs_t.c.finished_at < until_ms)
    everything = [*conditions, *tag_conditions]
    query = query.where(*everything) if everything else query
    only_tags = carrying is not None and not conditions and not reads_runs
    return DataSearch(query, carrying if only_tags else query)


def _rarest(conn: Connection, tag_ids) -> int:
    """How many Data carry the rarest of these tags (an index-only count per tag)."""
    return min(
        conn.execute(select(func.count()).select_from(data_tags_t).where(data_tags_t.c.tag_id == tag_id)).scalar_one()
        for tag_id in tag_ids
    )


def find_data(
    conn: Connection,
    tags: Sequence[Tag] = (),
    *,
    transient: str = "both",
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[str]:
    """Knit ids of Data carrying all ``tags`` (see ``data_query``), oldest first."""
    search = data_query(conn, tags, transient=transient, since_ms=since_ms, until_ms=until_ms)
    if search is None:
        return []
    return list(conn.execute(search.query.order_by(data_t.c.created_at, data_t.c.knit_id)).scalars())


def data_id_batches(conn: Connection, search: DataSearch) -> Iterator[list[str]]:
    """Knit ids of every Data of ``search``, oldest first (Knitfab's order), a batch at a time."""
    return paging.batched(conn, search.query, data_t.c.created_at, data_t.c.knit_id)


def data_page_keys(
    conn: Connection, search: DataSearch, *, limit: int, cursor: Cursor | None
) -> tuple[list[Key], bool]:
    """Keys of one page of ``search``'s Data, newest first (see ``paging.page_keys``)."""
    return paging.page_keys(conn, search.query, data_t.c.created_at, data_t.c.knit_id, limit=limit, cursor=cursor)


def recorded_size(conn: Connection, knit_id: str) -> int | None:
    """The bytes of a Data's files as recorded when it was committed (None while a Run still writes it, or for
    no such Data)."""
    return conn.execute(select(data_t.c.size).where(data_t.c.knit_id == knit_id)).scalar()


def registered(conn: Connection, knit_ids: list[str]) -> set[str]:
    """Which of ``knit_ids`` the catalog has a Data for (one query: callers keep the list short)."""
    return set(conn.execute(select(data_t.c.knit_id).where(data_t.c.knit_id.in_(knit_ids))).scalars())


def committed_checksums(conn: Connection) -> dict[str, str]:
    """knit id -> recorded checksum of every Data with content (committed, not purged)."""
    rows = conn.execute(
        select(data_t.c.knit_id, data_t.c.checksum).where(data_t.c.checksum.is_not(None), data_t.c.purged_at.is_(None))
    ).all()
    return {row.knit_id: row.checksum for row in rows}
