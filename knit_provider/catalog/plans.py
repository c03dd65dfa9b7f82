"""Plans in the catalog: apply (identity, cycle check, backfill) and the few mutable fields."""

from __future__ import annotations

import uuid
from collections import deque

from sqlalchemy import Connection, insert, select, update

from knit_provider.catalog.causes import ACTIVATE, DEACTIVATE, PLAN_APPLY, Cause, record_action
from knit_provider.catalog.dry_run import dry_run_of
from knit_provider.catalog.edges import inputs_fed_by, plans_of_ports
from knit_provider.catalog.models import (
    UPLOAD_PLAN_ID,
    input_tags_t,
    inputs_t,
    output_tags_t,
    outputs_t,
    plans_t,
    runs_t,
)
from knit_provider.catalog.projection import create_pending, nominate_plan, pending_runs, plan_structures
from knit_provider.catalog.tagstore import intern_tags
from knit_provider.core.airflow_names import plan_slug
from knit_provider.core.errors import Conflict, InvalidInput, NotFound
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.plan_spec import PlanSpec
from knit_provider.core.run_control import RunControl
from knit_provider.core.timefmt import now_ms


def require_plan(conn: Connection, plan_id: str) -> dict:
    row = conn.execute(select(plans_t).where(plans_t.c.plan_id == plan_id)).mappings().first()
    if row is None or plan_id == UPLOAD_PLAN_ID:
        raise NotFound(f"plan not found: {plan_id}")
    return dict(row)


def check_no_cycle(conn: Connection, spec: PlanSpec, tag_ids: dict) -> None:
    """Refuse a Plan that could feed itself through "output tags include all input tags" edges."""
    own_inputs = [
        {tag_ids[t] for t in i.tags} for i in spec.inputs if i.pin_knit_id is None and i.pin_timestamp_ms is None
    ]
    own_inputs = [s for s in own_inputs if s]
    start = [{tag_ids[t] for t in o.tags} for o in spec.outputs]
    if spec.log is not None:
        start.append({tag_ids[t] for t in spec.log.tags})
    queue: deque[tuple[set[int], tuple[str, ...]]] = deque((tags, ()) for tags in start)
    visited: set[str] = set()
    while queue:
        tags, path = queue.popleft()
        if any(needed <= tags for needed in own_inputs):
            chain = " -> ".join(("the new plan", *path, "the new plan"))
            raise Conflict(f"plan would make a cycle: {chain}")
        for plan_id in plans_of_ports(conn, input_ids=inputs_fed_by(conn, tags)) - visited:
            visited.add(plan_id)
            _, outputs = plan_structures(conn, [plan_id])[plan_id]
            queue.extend((set(out_tags), (*path, f"plan {plan_id}")) for _, out_tags in outputs)


def insert_plan(conn: Connection, spec: PlanSpec, *, max_runs: int | None = None) -> tuple[str, list[str]]:
    """Apply a Plan: refuse an equivalent one or a cycle, insert it, backfill; return (plan id, run ids).

    With ``max_runs``, a backfill of more Runs than that is refused (``[knit] backfill_confirm``), naming the count,
    before any Run is created; a dry run is never refused (it reports the count).
    """
    identity = spec.identity_key()
    existing = conn.execute(select(plans_t.c.plan_id).where(plans_t.c.identity == identity)).scalar()
    if existing is not None:
        raise Conflict(f"an equivalent plan already exists: {existing}")
    all_tags = {t for i in spec.inputs for t in i.tags} | {t for o in spec.outputs for t in o.tags}
    if spec.log is not None:
        all_tags |= set(spec.log.tags)
    tag_ids = intern_tags(conn, all_tags)
    check_no_cycle(conn, spec, tag_ids)

    plan_id = str(uuid.uuid4())
    conn.execute(
        insert(plans_t).values(
            plan_id=plan_id,
            name=plan_slug(spec.image, plan_id),
            image=spec.image,
            entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
            args=list(spec.args) if spec.args is not None else None,
            active=spec.active,
            resources=dict(spec.resources),
            on_node=None if spec.on_node.is_empty() else spec.on_node.to_dict(),
            service_account=spec.service_account,
            annotations=[str(a) for a in spec.annotations],
            run_control=control_to_row(spec.control),
            identity=identity,
            created_at=now_ms(),
        )
    )
    for position, spec_input in enumerate(spec.inputs):
        input_id = conn.execute(
            insert(inputs_t)
            .values(
                plan_id=plan_id,
                position=position,
                path=spec_input.path,
                n_user_tags=len(spec_input.tags),
                pin_knit_id=spec_input.pin_knit_id,
                pin_timestamp=spec_input.pin_timestamp_ms,
            )
            .returning(inputs_t.c.input_id)
        ).scalar_one()
        if spec_input.tags:
            conn.execute(insert(input_tags_t), [{"input_id": input_id, "tag_id": tag_ids[t]} for t in spec_input.tags])
    outlets = [(o.path, o.tags, False) for o in spec.outputs]
    if spec.log is not None:
        outlets.append((None, spec.log.tags, True))
    for position, (path, tags, is_log) in enumerate(outlets):
        output_id = conn.execute(
            insert(outputs_t)
            .values(plan_id=plan_id, position=position, path=path, is_log=is_log)
            .returning(outputs_t.c.output_id)
        ).scalar_one()
        if tags:  # an output (or log) may carry no tag (Knitfab allows it): its Data feed no Plan
            conn.execute(insert(output_tags_t), [{"output_id": output_id, "tag_id": tag_ids[t]} for t in tags])
    pending = pending_runs(conn, nominate_plan(conn, plan_id), fresh_plan=True)
    count = sum(len(combos) for _, combos in pending)
    if max_runs is not None and count > max_runs and dry_run_of(conn) is None:
        raise Conflict(
            f"applying this plan would create {count:,} Runs, more than [knit] backfill_confirm ({max_runs:,}): "
            "preview them with --dry-run, then apply with --yes (REST: yes=true) if that is what you want"
        )
    return plan_id, create_pending(conn, pending, Cause.of(conn, PLAN_APPLY, plan_id))


def set_active(conn: Connection, plan_id: str, active: bool) -> list[str]:
    """Flip the Plan and only its waiting <-> deactivated Runs; return the Runs flipped."""
    require_plan(conn, plan_id)
    conn.execute(update(plans_t).where(plans_t.c.plan_id == plan_id).values(active=active))
    source, target = (
        (RunStatus.DEACTIVATED, RunStatus.WAITING) if active else (RunStatus.WAITING, RunStatus.DEACTIVATED)
    )
    now = now_ms()
    flipped = list(
        conn.execute(
            update(runs_t)
            .where(runs_t.c.plan_id == plan_id, runs_t.c.status == source.value)
            .values(status=target.value, updated_at=now)
            .returning(runs_t.c.run_id)
        ).scalars()
    )
    record_action(conn, flipped, ACTIVATE if active else DEACTIVATE, now)
    return flipped


def control_to_row(control: RunControl) -> dict | None:
    """A Plan's run control as stored (None: the Plan says nothing)."""
    row = {k: v for k, v in vars(control).items() if v is not None}
    return row or None


def control_of(row: dict | None) -> RunControl:
    return RunControl(**(row or {}))


def set_fields(conn: Connection, plan_id: str, **fields: object) -> None:
    """Update mutable fields only: resources, annotations, service_account, run_control."""
    allowed = {"resources", "annotations", "service_account", "run_control"}
    unknown = set(fields) - allowed
    if unknown:
        raise InvalidInput(f"not a mutable plan field: {', '.join(sorted(unknown))}")
    require_plan(conn, plan_id)
    conn.execute(update(plans_t).where(plans_t.c.plan_id == plan_id).values(**fields))


def plans_with_ports(
    conn: Connection,
) -> list[tuple[str, str | None, bool, list[str], list[str], RunControl, list[str]]]:
    """Every Plan but the upload pseudo-plan as (plan id, image, active, input paths, output paths, run control,
    annotations), oldest first: what an executor needs to give each Plan a home (a DAG)."""
    inputs: dict[str, list[str]] = {}
    for plan_id, path in conn.execute(select(inputs_t.c.plan_id, inputs_t.c.path).order_by(inputs_t.c.position)):
        inputs.setdefault(plan_id, []).append(path)
    outputs: dict[str, list[str]] = {}
    for plan_id, path in conn.execute(
        select(outputs_t.c.plan_id, outputs_t.c.path)
        .where(outputs_t.c.is_log.is_(False))
        .order_by(outputs_t.c.position)
    ):
        outputs.setdefault(plan_id, []).append(path)
    rows = conn.execute(
        select(plans_t.c.plan_id, plans_t.c.image, plans_t.c.active, plans_t.c.run_control, plans_t.c.annotations)
        .where(plans_t.c.plan_id != UPLOAD_PLAN_ID)
        .order_by(plans_t.c.created_at, plans_t.c.plan_id)
    )
    return [
        (
            r.plan_id,
            r.image,
            bool(r.active),
            inputs.get(r.plan_id, []),
            outputs.get(r.plan_id, []),
            control_of(r.run_control),
            list(r.annotations or []),
        )
        for r in rows
    ]
