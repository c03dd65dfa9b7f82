"""Dry runs (``--dry-run``, REST ``dry_run=true``): what a write would do, without writing anything.

Each function runs the very catalog code its write runs (``catalog.dry_run``: the same serialized transaction,
rolled back), so a refusal is the write's own error with the write's own message, and a prediction is exactly
the Runs the write would create. The report: the checks passed, the Runs (how many, per Plan, and the first
``sample`` combinations with their knit ids), and the Plans downstream that those Runs' outputs would reach.
Nothing is ever handed to a dispatcher.

Ids a real write would draw afresh (the new Plan's, a pushed Data's) appear as placeholders: ``(new plan)``,
``(new data 1)``, ...
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from knit_provider.catalog import data as catalog_data
from knit_provider.catalog import plans as catalog_plans
from knit_provider.catalog.dry_run import DryRun, dry_tx
from knit_provider.catalog.edges import inputs_fed_by, plans_of_ports
from knit_provider.catalog.plan_views import plan_details
from knit_provider.catalog.projection import plan_structures
from knit_provider.catalog.views import data_details, input_points, plan_summaries, run_details
from knit_provider.core.plan_spec import PlanSpec, parse_plan_yaml
from knit_provider.core.tags import KEY_ID, KEY_NAME, Tag, parse_user_tags
from knit_provider.service.context import Knit
from knit_provider.service.settings import default_backfill_confirm

#: combinations listed by default (the count is always complete)
SAMPLE = 10
NEW_PLAN = "(new plan)"
ID_TAG = f"{KEY_ID}:"
APPLY_CHECKS = ["the plan is valid", "no equivalent plan exists", "it makes no cycle"]


def apply(
    knit: Knit, spec: PlanSpec | str, *, sample: int | None = SAMPLE, backfill_confirm: int | None = None
) -> dict:
    """``knit plan apply --dry-run``: validation, identity and cycle checks, and the backfill it would create."""
    if isinstance(spec, str):
        spec = parse_plan_yaml(spec)
    limit = default_backfill_confirm() if backfill_confirm is None else backfill_confirm
    with dry_tx(knit.engine, actor=knit.actor) as (conn, dry):
        plan_id, _ = catalog_plans.insert_plan(conn, spec)
        report = _report(conn, "plan apply", dry, sample, checks=APPLY_CHECKS)
        report["plan"] = plan_details(conn, [plan_id])[0]
    report["backfillConfirm"] = limit
    report["needsConfirmation"] = bool(limit) and dry.count > limit
    return _renamed(report, {plan_id: NEW_PLAN})


def tag(
    knit: Knit,
    knit_id: str,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    remove_keys: Sequence[str] = (),
    sample: int | None = SAMPLE,
) -> dict:
    """``knit data tag --dry-run``: the Data's tags and nominations after the edit, and the Runs it would create."""
    to_add = parse_user_tags(add, field="add")
    to_remove = parse_user_tags(remove, field="remove")
    keys = [k.strip() for k in remove_keys]
    with dry_tx(knit.engine, actor=knit.actor) as (conn, dry):
        catalog_data.edit_tags(conn, knit_id, add=to_add, remove=to_remove, remove_keys=keys)
        report = _report(conn, "data tag", dry, sample)
        report["data"] = data_details(conn, [knit_id])[0]
    return report


def set_active(knit: Knit, plan_id: str, active: bool, *, sample: int | None = SAMPLE) -> dict:
    """``knit plan active yes|no --dry-run``: the Runs that would wait again (or be deactivated)."""
    with dry_tx(knit.engine, actor=knit.actor) as (conn, dry):
        flipped = catalog_plans.set_active(conn, plan_id, active)
        report = _report(conn, f"plan active {'yes' if active else 'no'}", dry, sample)
        details = run_details(conn, flipped[:sample] if sample is not None else flipped)
        report["changed"] = {
            "status": "waiting" if active else "deactivated",
            "count": len(flipped),
            "sample": [{"runId": r["runId"], "inputs": _inputs(r["inputs"])} for r in details],
        }
        report["downstream"] = _downstream(conn, [plan_id] if flipped and active else [])
        report["plan"] = plan_details(conn, [plan_id])[0]
    return report


def push(
    knit: Knit, tags: Sequence[str] = (), *, names: Sequence[str | None] = (None,), sample: int | None = SAMPLE
) -> dict:
    """``knit data push --dry-run``: one Data per name (``name:<name>`` added when set) with these tags, nothing
    uploaded: the Runs their tags would create."""
    import uuid

    user_tags = parse_user_tags(tags)
    parts = [user_tags if name is None else _with_name(user_tags, name) for name in names]
    knit_ids = [str(uuid.uuid4()) for _ in parts]
    with dry_tx(knit.engine, actor=knit.actor) as (conn, dry):
        for knit_id, part in zip(knit_ids, parts, strict=True):
            catalog_data.register_upload(conn, knit_id, part, checksum=None, size=None)
        report = _report(conn, "data push", dry, sample)
        report["data"] = data_details(conn, knit_ids)
    return _renamed(report, {k: f"(new data {n})" for n, k in enumerate(knit_ids, start=1)})


# ---- the report -------------------------------------------------------------------------------------------------


def _with_name(tags: list[Tag], name: str) -> list[Tag]:
    name_tag = Tag(KEY_NAME, name)
    return [t for t in tags if t != name_tag] + [name_tag]


def _inputs(assigned: list[dict]) -> list[dict]:
    return [{"path": a["path"], "knitId": a["knitId"]} for a in assigned]


def _report(conn: Connection, action: str, dry: DryRun, sample: int | None, *, checks: Sequence[str] = ()) -> dict:
    """The Runs ``dry`` recorded: the count, per Plan, the first ``sample`` combinations, and what lies downstream."""
    plan_ids = list(_counts(dry))
    summaries = plan_summaries(conn, plan_ids)
    points = input_points(conn, {i for shape, _ in dry.planned for i in shape.input_ids})
    listed: list[dict] = []
    for shape, combos in dry.planned:
        for combo in combos:
            if sample is not None and len(listed) >= sample:
                break
            listed.append(
                {
                    "plan": summaries[shape.plan_id],
                    "inputs": [
                        {"path": points[i]["path"], "knitId": k} for i, k in zip(shape.input_ids, combo, strict=True)
                    ],
                }
            )
    return {
        "dryRun": True,
        "action": action,
        "checks": list(checks),
        "runs": {
            "count": dry.count,
            "byPlan": [{"plan": summaries[p], "count": n} for p, n in _counts(dry).items()],
            "sample": listed,
        },
        "downstream": _downstream(conn, plan_ids),
    }


def _counts(dry: DryRun) -> dict[str, int]:
    """Runs per Plan, in the order projection met them (one write may project a Plan more than once)."""
    counts: dict[str, int] = {}
    for shape, combos in dry.planned:
        if combos:
            counts[shape.plan_id] = counts.get(shape.plan_id, 0) + len(combos)
    return counts


def _downstream(conn: Connection, plan_ids: Iterable[str]) -> list[dict]:
    """The Plans the outputs (and logs) of these Plans' Runs would reach, nearest first, with their distance."""
    start = list(dict.fromkeys(plan_ids))
    depth_of: dict[str, int] = {}
    queue: deque[tuple[str, int]] = deque((p, 0) for p in start)
    seen = set(start)
    while queue:
        plan_id, depth = queue.popleft()
        _, outputs = plan_structures(conn, [plan_id])[plan_id]
        for _, tag_ids in outputs:
            for reached in sorted(plans_of_ports(conn, input_ids=inputs_fed_by(conn, set(tag_ids))) - seen):
                seen.add(reached)
                depth_of[reached] = depth + 1
                queue.append((reached, depth + 1))
    summaries = plan_summaries(conn, depth_of)
    return [{"plan": summaries[p], "depth": d} for p, d in sorted(depth_of.items(), key=lambda item: item[1])]


def _renamed(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every string that is a key of ``names`` (or its ``knit#id`` tag) replaced by its placeholder."""
    if isinstance(value, str):
        if value.startswith(ID_TAG) and value[len(ID_TAG) :] in names:
            return ID_TAG + names[value[len(ID_TAG) :]]
        return names.get(value, value)
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, names) for k, v in value.items()}
    return value
