"""Plans as Knitfab's JSON (v1.5+), with the upstreams and downstreams implied by tags.

An edge runs from an output (or log) to an unpinned input when the output's tags include all of the
input's tags: the same relation the cycle check follows and the plan graph draws.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, select

from knit_provider.catalog.edges import inputs_fed_by, outputs_feeding
from knit_provider.catalog.models import input_tags_t, inputs_t, output_tags_t, outputs_t, plans_t
from knit_provider.catalog.views import input_points, output_points, plan_summaries
from knit_provider.core.run_control import RunControl


def _tag_ids(conn: Connection, table, key_column, keys: Sequence[int]) -> dict[int, set[int]]:
    result: dict[int, set[int]] = defaultdict(set)
    if keys:
        for key, tag_id in conn.execute(select(key_column, table.c.tag_id).where(key_column.in_(list(keys)))):
            result[key].add(tag_id)
    return result


def plan_edges(conn: Connection, plan_ids: Sequence[str]) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """For the plans' inputs: the outputs feeding each; for their outputs: the inputs each feeds."""
    input_rows = conn.execute(
        select(inputs_t.c.input_id, inputs_t.c.pin_knit_id, inputs_t.c.pin_timestamp).where(
            inputs_t.c.plan_id.in_(plan_ids)
        )
    ).all()
    unpinned = [r.input_id for r in input_rows if r.pin_knit_id is None and r.pin_timestamp is None]
    output_ids = list(conn.execute(select(outputs_t.c.output_id).where(outputs_t.c.plan_id.in_(plan_ids))).scalars())
    in_tags = _tag_ids(conn, input_tags_t, input_tags_t.c.input_id, unpinned)
    out_tags = _tag_ids(conn, output_tags_t, output_tags_t.c.output_id, output_ids)
    upstreams = {i: outputs_feeding(conn, in_tags[i]) for i in unpinned}
    downstreams = {o: inputs_fed_by(conn, out_tags[o]) for o in output_ids}
    return upstreams, downstreams


def plan_details(conn: Connection, plan_ids: Sequence[str]) -> list[dict]:
    rows = {r.plan_id: r for r in conn.execute(select(plans_t).where(plans_t.c.plan_id.in_(list(plan_ids))))}
    if not rows:
        return []
    own_inputs: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for plan_id, position, input_id in conn.execute(
        select(inputs_t.c.plan_id, inputs_t.c.position, inputs_t.c.input_id).where(inputs_t.c.plan_id.in_(list(rows)))
    ):
        own_inputs[plan_id].append((position, input_id))
    own_outputs: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for plan_id, position, output_id in conn.execute(
        select(outputs_t.c.plan_id, outputs_t.c.position, outputs_t.c.output_id).where(
            outputs_t.c.plan_id.in_(list(rows))
        )
    ):
        own_outputs[plan_id].append((position, output_id))
    upstreams, downstreams = plan_edges(conn, list(rows))
    inputs = input_points(
        conn, {i for pairs in own_inputs.values() for _, i in pairs} | {i for ids in downstreams.values() for i in ids}
    )
    outputs = output_points(
        conn, {o for pairs in own_outputs.values() for _, o in pairs} | {o for ids in upstreams.values() for o in ids}
    )
    summaries = plan_summaries(
        conn, set(rows) | {p["plan_id"] for p in inputs.values()} | {p["plan_id"] for p in outputs.values()}
    )

    def upstream(output_id: int) -> dict:
        point = outputs[output_id]
        entry: dict = {"plan": summaries[point["plan_id"]]}
        if point["is_log"]:
            entry["log"] = {"tags": point["tags"]}
        else:
            entry["mountpoint"] = {"path": point["path"], "tags": point["tags"]}
        return entry

    def downstream(input_id: int) -> dict:
        point = inputs[input_id]
        return {"plan": summaries[point["plan_id"]], "mountpoint": {"path": point["path"], "tags": point["tags"]}}

    result = []
    for plan_id in plan_ids:
        row = rows.get(plan_id)
        if row is None:
            continue
        detail = dict(summaries[plan_id])
        detail["inputs"] = [
            {
                "path": inputs[i]["path"],
                "tags": inputs[i]["tags"],
                "upstreams": [upstream(o) for o in upstreams.get(i, [])],
            }
            for _, i in sorted(own_inputs[plan_id])
        ]
        outs = [outputs[o] | {"id": o} for _, o in sorted(own_outputs[plan_id])]
        detail["outputs"] = [
            {"path": p["path"], "tags": p["tags"], "downstreams": [downstream(i) for i in downstreams[p["id"]]]}
            for p in outs
            if not p["is_log"]
        ]
        logs = [p for p in outs if p["is_log"]]
        if logs:
            detail["log"] = {
                "tags": logs[0]["tags"],
                "downstreams": [downstream(i) for i in downstreams[logs[0]["id"]]],
            }
        detail["active"] = bool(row.active)
        if row.on_node:
            detail["on_node"] = {k: v for k, v in row.on_node.items() if v}
        if row.resources:
            detail["resources"] = dict(sorted(row.resources.items()))
        if row.service_account:
            detail["service_account"] = row.service_account
        if row.run_control:  # beyond Knitfab: timeout, retries (only when the Plan sets them)
            detail.update(RunControl(**row.run_control).to_dict())
        result.append(detail)
    return result
