"""Uploads pushed by an Airflow task: the task instance is the upload's lineage root (``knit_run_origins``)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from knit_provider.catalog.bulk import chunked
from knit_provider.catalog.models import data_t, run_origins_t


def record(conn: Connection, run_id: str, origin: dict) -> None:
    """Name the task instance that pushed an upload Run (``origin`` has the table's columns but ``run_id``); a second
    push under the same ``origin_key`` fails on the unique key, rolling its whole registration back."""
    conn.execute(insert(run_origins_t).values(run_id=run_id, **origin))


def data_pushed_under(conn: Connection, origin_key: str) -> str | None:
    """The knit id an earlier push under ``origin_key`` (the same task instance and push key) made, if any."""
    return conn.execute(
        select(data_t.c.knit_id)
        .join(run_origins_t, run_origins_t.c.run_id == data_t.c.run_id)
        .where(run_origins_t.c.origin_key == origin_key)
    ).scalar()


def origins_of(conn: Connection, run_ids: Iterable[str]) -> dict[str, dict]:
    """The Airflow origin of each upload Run that has one, as the JSON shows it (``{dagId, taskId, ...}``)."""
    found: dict[str, dict] = {}
    for chunk in chunked(list(run_ids)):
        for row in conn.execute(select(run_origins_t).where(run_origins_t.c.run_id.in_(chunk))):
            origin = {
                "dagId": row.dag_id,
                "taskId": row.task_id,
                "runId": row.dagrun_id,
                "mapIndex": row.map_index,
                "tryNumber": row.try_number,
            }
            if row.url:
                origin["url"] = row.url
            found[row.run_id] = origin
    return found


def root_name(origin: dict) -> str:
    """The lineage root's name for a task-pushed upload (where ``knit#uploaded`` stands for a CLI push)."""
    index = f"[{origin['mapIndex']}]" if origin.get("mapIndex", -1) >= 0 else ""
    return f"airflow#task:{origin['dagId']}.{origin['taskId']}{index}"
