"""Nomination and projection: which Data satisfy which Plan inputs, and the Runs that follow.

Called inside the serialized write transaction that caused it (an upload, a tag edit, a Run done, a
plan applied), so a Run exists the moment its cause commits. Runs are created for every combination of
nominated Data that contains at least one *new* nomination and that the Plan has never had: the
``(plan_id, combo_key)`` unique key makes "never twice" a database fact, not a convention.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)

from knit_provider.catalog import assets
from knit_provider.catalog.bulk import bulk_insert, chunked, insert_all
from knit_provider.catalog.causes import Cause
from knit_provider.catalog.dry_run import dry_run_of
from knit_provider.catalog.models import (
    data_t,
    data_tags_t,
    input_tags_t,
    inputs_t,
    nominations_t,
    output_tags_t,
    outputs_t,
    plans_t,
    run_inputs_t,
    runs_t,
)
from knit_provider.catalog.sqlparams import PerDialect, member_of
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.matching import new_combinations, pins_match
from knit_provider.core.timefmt import now_ms

Nominations = dict[int, set[str]]  # input_id -> knit ids


@dataclass(frozen=True)
class PlanShape:
    """What projection needs to know of a Plan: its inputs in order and its outputs' tags."""

    plan_id: str
    active: bool
    input_ids: tuple[int, ...]
    outputs: tuple[tuple[int, tuple[int, ...]], ...]  # (output_id, tag ids), log included


def combo_key(knit_ids: Sequence[str]) -> str:
    """The identity of a combination: its knit ids in input order."""
    return "|".join(knit_ids)


_STRUCTURE_CACHE: dict[str, tuple[tuple[int, ...], tuple[tuple[int, tuple[int, ...]], ...]]] = {}
_CACHE_LIMIT = 20_000


def plan_structures(conn: Connection, plan_ids: Sequence[str]) -> dict[str, tuple]:
    """Input ids and output tag ids per plan: immutable once applied, so cached by (unique) plan id."""
    missing = [p for p in plan_ids if p not in _STRUCTURE_CACHE]
    if missing:
        inputs: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for plan_id, position, input_id in conn.execute(
            select(inputs_t.c.plan_id, inputs_t.c.position, inputs_t.c.input_id).where(inputs_t.c.plan_id.in_(missing))
        ):
            inputs[plan_id].append((position, input_id))
        outputs: dict[str, dict[int, list[int]]] = defaultdict(dict)
        for plan_id, output_id, tag_id in conn.execute(
            select(outputs_t.c.plan_id, outputs_t.c.output_id, output_tags_t.c.tag_id)
            .outerjoin(output_tags_t, output_tags_t.c.output_id == outputs_t.c.output_id)
            .where(outputs_t.c.plan_id.in_(missing))
            .order_by(outputs_t.c.position)
        ):
            tags = outputs[plan_id].setdefault(output_id, [])
            if tag_id is not None:
                tags.append(tag_id)
        if len(_STRUCTURE_CACHE) > _CACHE_LIMIT:
            _STRUCTURE_CACHE.clear()
        for plan_id in missing:
            _STRUCTURE_CACHE[plan_id] = (
                tuple(input_id for _, input_id in sorted(inputs[plan_id])),
                tuple((oid, tuple(tags)) for oid, tags in outputs[plan_id].items()),
            )
    return {p: _STRUCTURE_CACHE[p] for p in plan_ids}


def load_plan_shapes(conn: Connection, active: dict[str, bool]) -> dict[str, PlanShape]:
    """Shapes of the plans whose current ``active`` flag the caller has just read."""
    structures = plan_structures(conn, list(active))
    return {
        plan_id: PlanShape(plan_id=plan_id, active=bool(active[plan_id]), input_ids=ins, outputs=outs)
        for plan_id, (ins, outs) in structures.items()
    }


_PIN_COLUMNS = (inputs_t.c.input_id, inputs_t.c.pin_knit_id, inputs_t.c.pin_timestamp)
#: Built once per dialect: hot-path statements hit SQLAlchemy's compiled cache (and, on PostgreSQL,
#: psycopg's prepared statements).
_MATCHING_INPUTS = PerDialect(
    lambda pg: union_all(
        select(data_tags_t.c.knit_id, *_PIN_COLUMNS)
        .join(input_tags_t, input_tags_t.c.tag_id == data_tags_t.c.tag_id)
        .join(inputs_t, inputs_t.c.input_id == input_tags_t.c.input_id)
        .where(member_of(data_tags_t.c.knit_id, "knit_ids", postgresql=pg))
        .group_by(data_tags_t.c.knit_id, *_PIN_COLUMNS, inputs_t.c.n_user_tags)
        .having(func.count() == inputs_t.c.n_user_tags),
        select(literal(None, String).label("knit_id"), *_PIN_COLUMNS).where(inputs_t.c.n_user_tags == 0),
    )
)
_NOMINATIONS_OF_DATA = PerDialect(
    lambda pg: select(nominations_t.c.input_id, nominations_t.c.knit_id).where(
        member_of(nominations_t.c.knit_id, "knit_ids", postgresql=pg)
    )
)
_AFFECTED_INPUTS = PerDialect(
    lambda pg: (
        select(inputs_t.c.input_id, inputs_t.c.plan_id, plans_t.c.active, nominations_t.c.knit_id)
        .join(plans_t, plans_t.c.plan_id == inputs_t.c.plan_id)
        .outerjoin(nominations_t, nominations_t.c.input_id == inputs_t.c.input_id)
        .where(
            inputs_t.c.plan_id.in_(
                select(inputs_t.c.plan_id).where(member_of(inputs_t.c.input_id, "input_ids", postgresql=pg))
            )
        )
    )
)
_SEEN_COMBOS = PerDialect(
    lambda pg: select(runs_t.c.combo_key).where(
        runs_t.c.plan_id == bindparam("plan_id"), member_of(runs_t.c.combo_key, "keys", postgresql=pg)
    )
)


def _matching_inputs(
    conn: Connection, knit_ids: Sequence[str], finished_at: dict[str, int | None]
) -> dict[str, set[int]]:
    """For each (done) Data, the Plan inputs whose user tags it carries and whose pins it matches."""
    matched: dict[str, set[int]] = {knit_id: set() for knit_id in knit_ids}
    for knit_id, input_id, pin_knit_id, pin_timestamp in conn.execute(
        _MATCHING_INPUTS(conn), {"knit_ids": list(knit_ids)}
    ):
        for candidate in knit_ids if knit_id is None else (knit_id,):
            if pins_match(pin_knit_id, pin_timestamp, knit_id=candidate, timestamp_ms=finished_at.get(candidate)):
                matched[candidate].add(input_id)
    return matched


def nominate_data(conn: Connection, knit_ids: Iterable[str]) -> Nominations:
    """Recompute the nominations of these Data; return the ones that are new.

    Only Data whose producing Run is done, and which were not purged, are nominated; the others lose any nomination.
    """
    ids = list(dict.fromkeys(knit_ids))
    if not ids:
        return {}
    finished_at: dict[str, int | None] = {
        knit_id: stamp
        for chunk in chunked(ids)
        for knit_id, stamp in conn.execute(
            select(data_t.c.knit_id, runs_t.c.finished_at)
            .join(runs_t, runs_t.c.run_id == data_t.c.run_id)
            .where(data_t.c.knit_id.in_(chunk), runs_t.c.status == RunStatus.DONE.value, data_t.c.purged_at.is_(None))
        )
    }
    done = [k for k in ids if k in finished_at]
    wanted: set[tuple[int, str]] = set()
    for chunk in chunked(done):
        for knit_id, input_ids in _matching_inputs(conn, chunk, finished_at).items():
            wanted.update((input_id, knit_id) for input_id in input_ids)
    existing: set[tuple[int, str]] = set()
    for chunk in chunked(ids):
        existing.update(
            (input_id, knit_id)
            for input_id, knit_id in conn.execute(_NOMINATIONS_OF_DATA(conn), {"knit_ids": list(chunk)})
        )
    stale_by_data: dict[str, list[int]] = defaultdict(list)
    for input_id, knit_id in existing - wanted:
        stale_by_data[knit_id].append(input_id)
    for knit_id, input_ids in stale_by_data.items():
        conn.execute(
            delete(nominations_t).where(nominations_t.c.knit_id == knit_id, nominations_t.c.input_id.in_(input_ids))
        )
    new = wanted - existing
    bulk_insert(conn, nominations_t, [{"input_id": i, "knit_id": k} for i, k in sorted(new)])
    result: Nominations = defaultdict(set)
    for input_id, knit_id in new:
        result[input_id].add(knit_id)
    return dict(result)


def _pins_match(knit_id: ColumnElement, finished_at: ColumnElement) -> ColumnElement[bool]:
    return and_(
        or_(inputs_t.c.pin_knit_id.is_(None), inputs_t.c.pin_knit_id == knit_id),
        or_(inputs_t.c.pin_timestamp.is_(None), inputs_t.c.pin_timestamp == finished_at),
    )


_PINS_OK = case((_pins_match(data_tags_t.c.knit_id, bindparam("finished_at")), 1), else_=0)

#: Nominate one just-uploaded Data in one statement: its matches go straight into the table. The pin
#: test sits in an aggregate so that the planner starts from the Data's few tags, never from inputs.
_NOMINATE_UPLOAD = (
    insert(nominations_t)
    .from_select(
        ["input_id", "knit_id"],
        union_all(
            select(inputs_t.c.input_id, data_tags_t.c.knit_id)
            .join(input_tags_t, input_tags_t.c.tag_id == data_tags_t.c.tag_id)
            .join(inputs_t, inputs_t.c.input_id == input_tags_t.c.input_id)
            .where(data_tags_t.c.knit_id == bindparam("knit_id"))
            .group_by(inputs_t.c.input_id, data_tags_t.c.knit_id, inputs_t.c.n_user_tags)
            .having(and_(func.count() == inputs_t.c.n_user_tags, func.min(_PINS_OK) == 1)),
            select(inputs_t.c.input_id, bindparam("knit_id", type_=String)).where(
                inputs_t.c.n_user_tags == 0, _pins_match(bindparam("knit_id"), bindparam("finished_at"))
            ),
        ),
    )
    .returning(nominations_t.c.input_id)
)


def nominate_upload(conn: Connection, knit_id: str, finished_at: int) -> Nominations:
    """Nominate a Data registered done in this transaction (it has no nominations to drop)."""
    result: Nominations = defaultdict(set)
    for input_id in conn.execute(_NOMINATE_UPLOAD, {"knit_id": knit_id, "finished_at": finished_at}).scalars():
        result[input_id].add(knit_id)
    return dict(result)


def nominate_plan(conn: Connection, plan_id: str) -> Nominations:
    """Backfill: nominate every done (and not purged) Data to the inputs of a newly applied Plan."""
    result: Nominations = {}
    for input_id, n_user_tags, pin_knit_id, pin_timestamp in conn.execute(
        select(inputs_t.c.input_id, inputs_t.c.n_user_tags, inputs_t.c.pin_knit_id, inputs_t.c.pin_timestamp).where(
            inputs_t.c.plan_id == plan_id
        )
    ).all():
        query = (
            select(data_t.c.knit_id)
            .join(runs_t, runs_t.c.run_id == data_t.c.run_id)
            .where(runs_t.c.status == RunStatus.DONE.value, data_t.c.purged_at.is_(None))
        )
        if n_user_tags:
            carrying = (
                select(data_tags_t.c.knit_id)
                .join(input_tags_t, and_(input_tags_t.c.tag_id == data_tags_t.c.tag_id))
                .where(input_tags_t.c.input_id == input_id)
                .group_by(data_tags_t.c.knit_id)
                .having(func.count() == n_user_tags)
            )
            query = query.where(data_t.c.knit_id.in_(carrying))
        if pin_knit_id is not None:
            query = query.where(data_t.c.knit_id == pin_knit_id)
        if pin_timestamp is not None:
            query = query.where(runs_t.c.finished_at == pin_timestamp)
        knit_ids = set(conn.execute(query).scalars())
        if knit_ids:
            bulk_insert(conn, nominations_t, [{"input_id": input_id, "knit_id": k} for k in sorted(knit_ids)])
            result[input_id] = knit_ids
    return result


def _seen(conn: Connection, candidates: dict[str, list[tuple[str, ...]]]) -> set[tuple[str, str]]:
    """(plan, combo key) pairs among the candidates that some Run, whatever its status, already had.

    One query per plan on ``plan_id = ? AND combo_key IN (...)``, which the unique index serves
    (a row-value IN over both columns is not index-assisted on SQLite).
    """
    seen: set[tuple[str, str]] = set()
    for plan_id, combos in candidates.items():
        for chunk in chunked([combo_key(c) for c in combos]):
            seen.update(
                (plan_id, key)
                for key in conn.execute(_SEEN_COMBOS(conn), {"plan_id": plan_id, "keys": list(chunk)}).scalars()
            )
    return seen


def pending_runs(
    conn: Connection, new: Nominations, *, fresh_plan: bool = False, fresh_data: bool = False
) -> list[tuple[PlanShape, list[tuple[str, ...]]]]:
    """The Runs the new nominations cause: per Plan, the combinations no Run of it ever had.

    ``fresh_plan``: the nominations all belong to a Plan applied in this transaction; ``fresh_data``:
    they are all of Data registered in this transaction. Either way every new combination holds
    something no Run can have had yet, so the look-up of past combinations is skipped (the unique
    key still guards it).
    """
    new = {input_id: ids for input_id, ids in new.items() if ids}
    if not new:
        return []
    plan_of: dict[int, str] = {}
    active: dict[str, bool] = {}
    nominated: Nominations = defaultdict(set)
    for input_id, plan_id, is_active, knit_id in conn.execute(_AFFECTED_INPUTS(conn), {"input_ids": list(new)}):
        plan_of[input_id], active[plan_id] = plan_id, is_active
        if knit_id is not None:
            nominated[input_id].add(knit_id)
    shapes = load_plan_shapes(conn, active)
    candidates: dict[str, list[tuple[str, ...]]] = {}
    for plan_id in sorted(shapes):
        shape = shapes[plan_id]
        if all(nominated[i] for i in shape.input_ids):
            plan_new = {i: ids for i, ids in new.items() if plan_of[i] == plan_id}
            candidates[plan_id] = new_combinations(shape.input_ids, nominated, plan_new)
    seen = set() if fresh_plan or fresh_data else _seen(conn, candidates)
    return [
        (shapes[plan_id], [c for c in combos if (plan_id, combo_key(c)) not in seen])
        for plan_id, combos in candidates.items()
    ]


def create_pending(
    conn: Connection, pending: Sequence[tuple[PlanShape, Sequence[Sequence[str]]]], cause: Cause | None = None
) -> list[str]:
    """Create the Runs ``pending_runs`` found, recording ``cause`` on them; return their ids."""
    created: list[str] = []
    for shape, combos in pending:
        created += create_runs(conn, shape, combos, cause)
    return created


def project(
    conn: Connection,
    new: Nominations,
    *,
    fresh_plan: bool = False,
    fresh_data: bool = False,
    cause: Cause | None = None,
) -> list[str]:
    """Create the Runs the new nominations cause (recording ``cause`` on them); return their ids."""
    return create_pending(conn, pending_runs(conn, new, fresh_plan=fresh_plan, fresh_data=fresh_data), cause)


def create_runs(
    conn: Connection, shape: PlanShape, combos: Sequence[Sequence[str]], cause: Cause | None = None
) -> list[str]:
    """Insert Runs with their inputs and their (transient) output and log Data, in bulk; in a dry run, only
    record the combinations (``catalog.dry_run``)."""
    if not combos:
        return []
    dry = dry_run_of(conn)
    if dry is not None:
        return dry.record(shape, combos)
    now = now_ms()
    status = (RunStatus.WAITING if shape.active else RunStatus.DEACTIVATED).value
    caused = cause.columns() if cause is not None else {"cause": None, "cause_ref": None, "cause_actor": None}
    runs, run_inputs, data, data_tags = [], [], [], []
    for combo in combos:
        run_id = str(uuid.uuid4())
        runs.append(
            {
                "run_id": run_id,
                "plan_id": shape.plan_id,
                "status": status,
                "combo_key": combo_key(combo),
                "created_at": now,
                "updated_at": now,
                **caused,
            }
        )
        run_inputs += [
            {"run_id": run_id, "input_id": input_id, "knit_id": knit_id}
            for input_id, knit_id in zip(shape.input_ids, combo, strict=True)
        ]
        for output_id, tag_ids in shape.outputs:
            knit_id = str(uuid.uuid4())
            data.append({"knit_id": knit_id, "run_id": run_id, "output_id": output_id, "created_at": now})
            data_tags += [{"knit_id": knit_id, "tag_id": tag_id} for tag_id in tag_ids]
    insert_all(conn, [(runs_t, runs), (run_inputs_t, run_inputs), (data_t, data), (data_tags_t, data_tags)])
    return [row["run_id"] for row in runs]


def reproject_data(conn: Connection, knit_ids: Iterable[str], cause: Cause | None = None) -> list[str]:
    """After Data changed (tagged, its Run done): renominate and create the Runs due; the usable ones go into the
    asset feed (``catalog.assets``), which KnitAsset watchers poll."""
    ids = list(knit_ids)
    assets.note_changed(conn, ids)
    return project(conn, nominate_data(conn, ids), cause=cause)


def project_upload(conn: Connection, knit_id: str, finished_at: int, cause: Cause | None = None) -> list[str]:
    """After an upload registered in this transaction: nominate it and create the Runs due (and feed it to the
    KnitAsset watchers)."""
    assets.note_changed(conn, [knit_id])
    return project(conn, nominate_upload(conn, knit_id, finished_at), fresh_data=True, cause=cause)
