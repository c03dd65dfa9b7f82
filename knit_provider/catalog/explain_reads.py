"""What ``knit explain`` reads: a Data's facts as nomination sees them, Plan inputs, nominations and the Runs
that used a Data. The same columns and relations projection works from (``catalog.projection``): the reasons
are derived from these facts by ``core.reasons``, never stored.

Plan inputs are immutable once applied, so their tags are cached by plan id (a fresh uuid4 per Plan, never reused:
an entry left by a rolled-back dry run is never looked up again). Explaining one Data against every input of a
thousand Plans then costs a few indexed queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Connection, exists, select

from knit_provider.catalog.bulk import chunked
from knit_provider.catalog.models import (
    UPLOAD_PLAN_ID,
    data_t,
    input_tags_t,
    inputs_t,
    nominations_t,
    plans_t,
    run_inputs_t,
    runs_t,
    tags_t,
)
from knit_provider.catalog.tagstore import tags_of_data
from knit_provider.core.errors import NotFound
from knit_provider.core.lifecycle import RunStatus, transient_state
from knit_provider.core.reasons import lacking_all
from knit_provider.core.run_story import RunFacts
from knit_provider.core.similar import variants
from knit_provider.core.tags import KEY_ID, KEY_TIMESTAMP, TRANSIENT_PURGED, Tag, sort_tags
from knit_provider.core.timefmt import format_ms


@dataclass(frozen=True)
class InputFacts:
    """One Plan input as nomination matches it."""

    input_id: int
    plan_id: str
    image: str | None
    plan_created_at: int
    position: int
    path: str
    tags: tuple[Tag, ...]  # user tags, sorted
    pin_knit_id: str | None
    pin_timestamp: int | None

    @cached_property
    def shown(self) -> tuple[str, ...]:
        """User tags and pins, as Knitfab shows an input's tags."""
        pins = [Tag(KEY_ID, self.pin_knit_id)] if self.pin_knit_id else []
        if self.pin_timestamp is not None:
            pins.append(Tag(KEY_TIMESTAMP, format_ms(self.pin_timestamp)))
        return tuple(str(t) for t in sort_tags([*self.tags, *pins]))

    @cached_property
    def texts(self) -> tuple[str, ...]:
        """The user tags as text, in order."""
        return tuple(str(t) for t in self.tags)

    @cached_property
    def plan_ref(self) -> dict:
        """The Plan as an entry of ``knit explain`` names it (shared by every explanation: never change it)."""
        return {"planId": self.plan_id, "image": self.image}

    @cached_property
    def shown_list(self) -> list[str]:
        """``shown`` as the list an entry of ``knit explain`` holds (shared by every explanation: never change it)."""
        return list(self.shown)

    @cached_property
    def lacking_all(self) -> dict:
        """The missing-tags reason when the Data shares nothing with this input (copy it before changing it)."""
        return lacking_all(self.texts)

    @cached_property
    def variants(self) -> frozenset[str]:
        """Every ``core.similar`` variant of the user tags: a Data sharing none has none of them, nor one alike."""
        return frozenset().union(*(variants(t) for t in self.tags))

    @property
    def pinned(self) -> bool:
        return self.pin_knit_id is not None or self.pin_timestamp is not None

    def shown_tags(self) -> list[str]:
        return list(self.shown)


@dataclass(frozen=True)
class DataFacts:
    knit_id: str
    run_id: str
    status: RunStatus
    finished_at: int | None
    purged_at: int | None
    user_tags: frozenset[Tag]

    @property
    def transient(self) -> str | None:
        """``knit#transient``'s value: None exactly when nomination may use the Data (done, not purged)."""
        return TRANSIENT_PURGED if self.purged_at is not None else transient_state(self.status)


_INPUTS: dict[str, tuple[InputFacts, ...]] = {}
_CACHE_LIMIT = 20_000


def data_facts(conn: Connection, knit_id: str) -> DataFacts:
    row = conn.execute(
        select(data_t.c.run_id, data_t.c.purged_at, runs_t.c.status, runs_t.c.finished_at)
        .join(runs_t, runs_t.c.run_id == data_t.c.run_id)
        .where(data_t.c.knit_id == knit_id)
    ).first()
    if row is None:
        raise NotFound(f"data not found: {knit_id}")
    tags = tags_of_data(conn, [knit_id])[knit_id]
    return DataFacts(knit_id, row.run_id, RunStatus(row.status), row.finished_at, row.purged_at, frozenset(tags))


def plans_now(conn: Connection, plan_id: str | None = None) -> tuple[dict[str, bool], set[int]]:
    """Every Plan (or one) but the upload pseudo-plan with whether it is active now, and which of their inputs
    hold no nominated Data (few, on a catalog in use: a row per Plan, and a row per empty input)."""
    plans = select(plans_t.c.plan_id, plans_t.c.active).where(plans_t.c.plan_id != UPLOAD_PLAN_ID)
    holds = exists().where(nominations_t.c.input_id == inputs_t.c.input_id)
    empty = select(inputs_t.c.input_id).where(~holds, inputs_t.c.plan_id != UPLOAD_PLAN_ID)
    if plan_id is not None:
        plans = plans.where(plans_t.c.plan_id == plan_id)
        empty = empty.where(inputs_t.c.plan_id == plan_id)
    active = {plan: bool(is_active) for plan, is_active in conn.execute(plans)}
    return active, set(conn.execute(empty).scalars())


def plan_inputs(conn: Connection, plan_ids: Iterable[str]) -> dict[str, tuple[InputFacts, ...]]:
    """The inputs of each Plan, in position order."""
    wanted = list(plan_ids)
    missing = [p for p in wanted if p not in _INPUTS]
    if missing:
        if len(_INPUTS) > _CACHE_LIMIT:
            _INPUTS.clear()
        found: dict[str, list[InputFacts]] = defaultdict(list)
        for chunk in chunked(missing):
            tags: dict[int, set[Tag]] = defaultdict(set)
            for input_id, key, value in conn.execute(
                select(input_tags_t.c.input_id, tags_t.c.key, tags_t.c.value)
                .join(tags_t, tags_t.c.tag_id == input_tags_t.c.tag_id)
                .join(inputs_t, inputs_t.c.input_id == input_tags_t.c.input_id)
                .where(inputs_t.c.plan_id.in_(chunk))
            ):
                tags[input_id].add(Tag(key, value))
            for row in conn.execute(
                select(inputs_t, plans_t.c.image, plans_t.c.created_at.label("plan_created_at"))
                .join(plans_t, plans_t.c.plan_id == inputs_t.c.plan_id)
                .where(inputs_t.c.plan_id.in_(chunk))
            ):
                found[row.plan_id].append(
                    InputFacts(
                        input_id=row.input_id,
                        plan_id=row.plan_id,
                        image=row.image,
                        plan_created_at=row.plan_created_at,
                        position=row.position,
                        path=row.path,
                        tags=tuple(sort_tags(tags[row.input_id])),
                        pin_knit_id=row.pin_knit_id,
                        pin_timestamp=row.pin_timestamp,
                    )
                )
        for plan_id in missing:
            _INPUTS[plan_id] = tuple(sorted(found[plan_id], key=lambda i: i.position))
    return {p: _INPUTS[p] for p in wanted}


def nominated_inputs(conn: Connection, knit_id: str) -> set[int]:
    return set(conn.execute(select(nominations_t.c.input_id).where(nominations_t.c.knit_id == knit_id)).scalars())


def runs_using(conn: Connection, knit_id: str, plan_id: str | None = None) -> dict[int, list[dict]]:
    """The Runs that have the Data at each input (tombstones included), oldest first."""
    query = (
        select(run_inputs_t.c.input_id, runs_t.c.run_id, runs_t.c.status)
        .join(runs_t, runs_t.c.run_id == run_inputs_t.c.run_id)
        .where(run_inputs_t.c.knit_id == knit_id)
        .order_by(runs_t.c.created_at, runs_t.c.run_id)
    )
    if plan_id is not None:
        query = query.where(runs_t.c.plan_id == plan_id)
    found: dict[int, list[dict]] = defaultdict(list)
    for input_id, run_id, status in conn.execute(query):
        found[input_id].append({"runId": run_id, "status": status})
    return found


def run_facts(conn: Connection, run_id: str) -> RunFacts:
    """A Run with its recorded cause, last change by hand, and its Plan's image and activeness."""
    row = conn.execute(
        select(runs_t, plans_t.c.image, plans_t.c.active)
        .join(plans_t, plans_t.c.plan_id == runs_t.c.plan_id)
        .where(runs_t.c.run_id == run_id)
    ).first()
    if row is None:
        raise NotFound(f"run not found: {run_id}")
    return RunFacts(
        run_id=run_id,
        plan_id=row.plan_id,
        image=row.image if row.plan_id != UPLOAD_PLAN_ID else None,
        plan_active=bool(row.active),
        status=RunStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        exit_code=row.exit_code,
        exit_message=row.exit_message,
        dispatched_at=row.dispatched_at,
        cause=row.cause,
        cause_ref=row.cause_ref,
        cause_actor=row.cause_actor,
        action=row.action,
        action_actor=row.action_actor,
        action_at=row.action_at,
    )
