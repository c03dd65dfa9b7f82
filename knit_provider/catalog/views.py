"""Read models: Data, Plans and Runs as Knitfab's JSON shapes (v1.5+), loaded in batches.

Field order and omission rules follow Knitfab's API types: ``exit`` only when set, ``log`` always
present on a Run (null without a log), pseudo plans named (``knit#uploaded``) instead of an image.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select

from knit_provider.catalog.bulk import chunked
from knit_provider.catalog.models import (
    UPLOAD_PLAN_ID,
    data_t,
    input_tags_t,
    inputs_t,
    nominations_t,
    output_tags_t,
    outputs_t,
    plans_t,
    run_attempts_t,
    run_inputs_t,
    runs_t,
    tags_t,
)
from knit_provider.catalog.origins import origins_of, root_name
from knit_provider.catalog.tagstore import tags_of_data
from knit_provider.core.lifecycle import RunStatus, transient_state
from knit_provider.core.tags import KEY_ID, KEY_TIMESTAMP, KEY_TRANSIENT, TRANSIENT_PURGED, Tag, sort_tags
from knit_provider.core.timefmt import format_ms


def _texts(tags: Iterable[Tag]) -> list[str]:
    return [str(t) for t in sort_tags(tags)]


def plan_summaries(conn: Connection, plan_ids: Iterable[str]) -> dict[str, dict]:
    result: dict[str, dict] = {}
    for chunk in chunked(plan_ids):
        for row in conn.execute(select(plans_t).where(plans_t.c.plan_id.in_(chunk))).mappings():
            summary: dict = {"planId": row["plan_id"]}
            if row["image"]:
                summary["image"] = row["image"]
            if row["entrypoint"]:
                summary["entrypoint"] = list(row["entrypoint"])
            if row["args"]:
                summary["args"] = list(row["args"])
            if row["plan_id"] == UPLOAD_PLAN_ID:
                summary["name"] = row["name"]
            if row["annotations"]:
                summary["annotations"] = sorted(row["annotations"])
            result[row["plan_id"]] = summary
    return result


def run_summaries(conn: Connection, run_ids: Iterable[str]) -> dict[str, dict]:
    rows = [r for chunk in chunked(run_ids) for r in conn.execute(select(runs_t).where(runs_t.c.run_id.in_(chunk)))]
    plans = plan_summaries(conn, {r.plan_id for r in rows})
    pushed_by_task = origins_of(conn, [r.run_id for r in rows if r.plan_id == UPLOAD_PLAN_ID])
    result: dict[str, dict] = {}
    for row in rows:
        summary: dict = {"runId": row.run_id, "status": row.status, "updatedAt": format_ms(row.updated_at)}
        if row.exit_code is not None:
            summary["exit"] = {"code": row.exit_code, "message": row.exit_message or ""}
        summary["plan"] = plans[row.plan_id]
        origin = pushed_by_task.get(row.run_id)
        if origin is not None:  # beyond Knitfab: the Airflow task that pushed it is the lineage root
            summary["plan"] = {**summary["plan"], "name": root_name(origin)}
            summary["origin"] = {"airflow": origin}
        result[row.run_id] = summary
    return result


def _port_tags(conn: Connection, link, key_column, ids: list[int]) -> dict[int, list[Tag]]:
    """Tags of Plan inputs or outputs (``link`` is their tag table, ``key_column`` its port id)."""
    tags: dict[int, list[Tag]] = defaultdict(list)
    for port_id, key, value in conn.execute(
        select(key_column, tags_t.c.key, tags_t.c.value)
        .join(tags_t, tags_t.c.tag_id == link.c.tag_id)
        .where(key_column.in_(ids))
    ):
        tags[port_id].append(Tag(key, value))
    return tags


def input_points(conn: Connection, input_ids: Iterable[int]) -> dict[int, dict]:
    """``{path, tags, plan_id}`` of Plan inputs; tags include the pins as Knitfab shows them."""
    points: dict[int, dict] = {}
    for chunk in chunked(input_ids):
        tags = _port_tags(conn, input_tags_t, input_tags_t.c.input_id, chunk)
        for row in conn.execute(select(inputs_t).where(inputs_t.c.input_id.in_(chunk))):
            pins = [Tag(KEY_ID, row.pin_knit_id)] if row.pin_knit_id else []
            if row.pin_timestamp is not None:
                pins.append(Tag(KEY_TIMESTAMP, format_ms(row.pin_timestamp)))
            points[row.input_id] = {"path": row.path, "plan_id": row.plan_id, "tags": _texts(tags[row.input_id] + pins)}
    return points


def output_points(conn: Connection, output_ids: Iterable[int]) -> dict[int, dict]:
    """``{path, tags, is_log, plan_id}`` of Plan outputs and logs."""
    points: dict[int, dict] = {}
    for chunk in chunked(output_ids):
        tags = _port_tags(conn, output_tags_t, output_tags_t.c.output_id, chunk)
        for row in conn.execute(select(outputs_t).where(outputs_t.c.output_id.in_(chunk))):
            points[row.output_id] = {
                "path": row.path, "is_log": row.is_log, "plan_id": row.plan_id, "tags": _texts(tags[row.output_id])
            }  # fmt: skip
    return points


def _mountpoint(point: dict) -> dict:
    return {"path": point["path"], "tags": point["tags"]}


def data_details(conn: Connection, knit_ids: Sequence[str]) -> list[dict]:
    """Data as ``{knitId, tags, upstream, downstreams, nomination}``, in the order asked."""
    rows = {
        r.knit_id: r
        for chunk in chunked(knit_ids)
        for r in conn.execute(
            select(
                data_t.c.knit_id,
                data_t.c.output_id,
                data_t.c.purged_at,
                runs_t.c.run_id,
                runs_t.c.status,
                runs_t.c.finished_at,
            )
            .join(runs_t, runs_t.c.run_id == data_t.c.run_id)
            .where(data_t.c.knit_id.in_(chunk))
        )
    }
    user_tags = tags_of_data(conn, rows)
    outputs = output_points(conn, {r.output_id for r in rows.values()})
    consumers: dict[str, list[tuple[int, str]]] = defaultdict(list)
    nominated: dict[str, list[int]] = defaultdict(list)
    for chunk in chunked(rows):
        for knit_id, input_id, run_id in conn.execute(
            select(run_inputs_t.c.knit_id, run_inputs_t.c.input_id, run_inputs_t.c.run_id)
            .join(runs_t, runs_t.c.run_id == run_inputs_t.c.run_id)
            .where(run_inputs_t.c.knit_id.in_(chunk), runs_t.c.status != RunStatus.INVALIDATED.value)
        ):
            consumers[knit_id].append((input_id, run_id))
        for knit_id, input_id in conn.execute(
            select(nominations_t.c.knit_id, nominations_t.c.input_id).where(nominations_t.c.knit_id.in_(chunk))
        ):
            nominated[knit_id].append(input_id)
    inputs = input_points(
        conn, {i for pairs in consumers.values() for i, _ in pairs} | {i for ids in nominated.values() for i in ids}
    )
    runs = run_summaries(conn, {r.run_id for r in rows.values()} | {r for p in consumers.values() for _, r in p})
    plans = plan_summaries(conn, {inputs[i]["plan_id"] for ids in nominated.values() for i in ids})
    result = []
    for knit_id in knit_ids:
        row = rows.get(knit_id)
        if row is None:
            continue
        tags = set(user_tags[knit_id]) | {Tag(KEY_ID, knit_id)}
        if row.finished_at is not None:
            tags.add(Tag(KEY_TIMESTAMP, format_ms(row.finished_at)))
        transient = TRANSIENT_PURGED if row.purged_at is not None else transient_state(RunStatus(row.status))
        if transient:
            tags.add(Tag(KEY_TRANSIENT, transient))
        out = outputs[row.output_id]
        upstream = {"log": {"tags": out["tags"]}} if out["is_log"] else {"mountpoint": _mountpoint(out)}
        upstream["run"] = runs[row.run_id]
        result.append(
            {
                "knitId": knit_id,
                "tags": _texts(tags),
                "upstream": upstream,
                "downstreams": [
                    {"mountpoint": _mountpoint(inputs[i]), "run": runs[r]}
                    for i, r in sorted(consumers[knit_id], key=lambda p: p[1])
                ],
                "nomination": [
                    {**_mountpoint(inputs[i]), "plan": plans[inputs[i]["plan_id"]]} for i in sorted(nominated[knit_id])
                ],
            }
        )
    return result


def _attempts(conn: Connection, run_ids: list[str]) -> dict[str, tuple[int, list[dict]]]:
    """Each Run's current attempt number and its ended attempts (``{attempt, exit, startedAt, finishedAt}``)."""
    found: dict[str, tuple[int, list[dict]]] = {}
    for chunk in chunked(run_ids):
        for run_id, attempt in conn.execute(
            select(runs_t.c.run_id, runs_t.c.attempt).where(runs_t.c.run_id.in_(chunk), runs_t.c.attempt > 1)
        ):
            found[run_id] = (attempt, [])
        for row in conn.execute(
            select(run_attempts_t).where(run_attempts_t.c.run_id.in_(chunk)).order_by(run_attempts_t.c.attempt)
        ):
            current, ended = found.setdefault(row.run_id, (1, []))
            ended.append(
                {
                    "attempt": row.attempt,
                    "exit": {"code": row.exit_code, "message": row.exit_message or ""},
                    "startedAt": format_ms(row.started_at) if row.started_at is not None else None,
                    "finishedAt": format_ms(row.finished_at),
                }
            )
    return found


def run_details(conn: Connection, run_ids: Sequence[str]) -> list[dict]:
    """Runs as ``{runId, status, updatedAt, exit?, plan, inputs, outputs, log}``, in the order asked."""
    summaries = run_summaries(conn, run_ids)
    assigned_in: dict[str, list[tuple[int, str]]] = defaultdict(list)
    assigned_out: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for chunk in chunked(summaries):
        for run_id, input_id, knit_id in conn.execute(
            select(run_inputs_t.c.run_id, run_inputs_t.c.input_id, run_inputs_t.c.knit_id).where(
                run_inputs_t.c.run_id.in_(chunk)
            )
        ):
            assigned_in[run_id].append((input_id, knit_id))
        for run_id, output_id, knit_id in conn.execute(
            select(data_t.c.run_id, data_t.c.output_id, data_t.c.knit_id).where(data_t.c.run_id.in_(chunk))
        ):
            assigned_out[run_id].append((output_id, knit_id))
    inputs = input_points(conn, {i for pairs in assigned_in.values() for i, _ in pairs})
    outputs = output_points(conn, {o for pairs in assigned_out.values() for o, _ in pairs})
    attempts = _attempts(conn, list(summaries))
    result = []
    for run_id in run_ids:
        if run_id not in summaries:
            continue
        detail = dict(summaries[run_id])
        detail["inputs"] = [{**_mountpoint(inputs[i]), "knitId": k} for i, k in sorted(assigned_in[run_id])]
        detail["outputs"] = [
            {**_mountpoint(outputs[o]), "knitId": k}
            for o, k in sorted(assigned_out[run_id])
            if not outputs[o]["is_log"]
        ]
        logs = [{"tags": outputs[o]["tags"], "knitId": k} for o, k in assigned_out[run_id] if outputs[o]["is_log"]]
        detail["log"] = logs[0] if logs else None
        detail["attempt"], ended = attempts.get(run_id, (1, []))  # beyond Knitfab, after Knitfab's keys
        if ended:
            detail["attempts"] = ended
        result.append(detail)
    return result
