"""Data in the catalog: uploads, tag edits, and finding Data by tags, transience and time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, insert, select

from knit_provider.catalog.bulk import insert_all
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
from knit_provider.core.tags import (
    KEY_ID,
    KEY_TIMESTAMP,
    KEY_TRANSIENT,
    SYSTEM_PREFIX,
    TRANSIENT_FAILED,
    TRANSIENT_PROCESSING,
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
    run = {"run_id": run_id, "plan_id": UPLOAD_PLAN_ID, "status": RunStatus.DONE.value, "combo_key": run_id,
           "created_at": now, "updated_at": now, "finished_at": now}  # fmt: skip
    data = {"knit_id": knit_id, "run_id": run_id, "output_id": upload_output_id(conn), "checksum": checksum,
            "size": size, "created_at": now}  # fmt: skip
    ids = intern_tags(conn, tags) if tags else {}
    insert_all(
        conn,
        [(runs_t, [run]), (data_t, [data]), (data_tags_t, [{"knit_id": knit_id, "tag_id": i} for i in ids.values()])],
    )
    return run_id, project_upload(conn, knit_id, now)


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
    return reproject_data(conn, [knit_id])


def find_data(
    conn: Connection,
    tags: Sequence[Tag] = (),
    *,
    transient: str = "both",
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[str]:
    """Knit ids of Data carrying all ``tags`` (system tags understood), oldest first."""
    query = select(data_t.c.knit_id).join(runs_t, runs_t.c.run_id == data_t.c.run_id)
    user = [t for t in tags if not t.is_system]
    for tag in (t for t in tags if t.is_system):
        if tag.key == KEY_ID:
            query = query.where(data_t.c.knit_id == tag.value)
        elif tag.key == KEY_TIMESTAMP:
            stamp = parse_rfc3339(tag.value, field=str(tag))
            query = query.where(runs_t.c.finished_at == stamp, runs_t.c.status.in_([s.value for s in TERMINAL]))
        elif tag.key == KEY_TRANSIENT and tag.value == TRANSIENT_PROCESSING:
            query = query.where(runs_t.c.status.in_([s.value for s in LIVE]))
        elif tag.key == KEY_TRANSIENT and tag.value == TRANSIENT_FAILED:
            query = query.where(runs_t.c.status.in_(["failed", "invalidated"]))
        else:
            raise InvalidInput(f"unknown system tag {str(tag)!r}", field="tag")
    if user:
        ids = lookup_tag_ids(conn, user)
        if len(ids) < len(set(user)):
            return []
        carrying = (
            select(data_tags_t.c.knit_id)
            .where(data_tags_t.c.tag_id.in_(list(ids.values())))
            .group_by(data_tags_t.c.knit_id)
            .having(func.count() == len(ids))
        )
        query = query.where(data_t.c.knit_id.in_(carrying))
    if transient == "yes":
        query = query.where(runs_t.c.status != RunStatus.DONE.value)
    elif transient == "no":
        query = query.where(runs_t.c.status == RunStatus.DONE.value)
    elif transient != "both":
        raise InvalidInput(f"must be both, yes or no, not {transient!r}", field="transient")
    if since_ms is not None:
        query = query.where(runs_t.c.finished_at >= since_ms)
    if until_ms is not None:
        query = query.where(runs_t.c.finished_at < until_ms)
    return list(conn.execute(query.order_by(data_t.c.created_at, data_t.c.knit_id)).scalars())
