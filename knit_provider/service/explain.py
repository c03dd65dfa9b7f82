"""``knit explain``: why a Data is (not) used by each Plan, why a Run exists and is where it is, and which Data
almost match a Plan.

Everything is derived at the moment of asking, from the catalog's facts and the rules nomination and projection
follow (``core.reasons``, ``core.run_story``), inside one read transaction: an explanation cannot disagree with
what the catalog did.
"""

from __future__ import annotations

from operator import itemgetter

from sqlalchemy import Connection

from knit_provider.catalog import explain_reads as reads
from knit_provider.catalog.engine import read_tx
from knit_provider.catalog.near_misses import near_misses as catalog_near_misses
from knit_provider.catalog.plans import require_plan
from knit_provider.catalog.tagstore import tags_of_data
from knit_provider.catalog.views import run_details
from knit_provider.core import reasons as why
from knit_provider.core import run_story
from knit_provider.core.similar import SimilarIndex
from knit_provider.core.tags import KEY_ID, KEY_TIMESTAMP, KEY_TRANSIENT, Tag, sort_tags
from knit_provider.core.timefmt import format_ms
from knit_provider.service.context import Knit

#: Runs listed per input (the count says how many there are)
RUNS_SHOWN = 10


def data(knit: Knit, knit_id: str, *, plan_id: str | None = None) -> dict:
    """For every Plan input (or those of ``plan_id``): is the Data nominated there, and every reason that holds.

    Entries come nominated first, then the closest misses (fewest missing tags) first; ``related`` marks those
    worth a person's attention (nominated, used, or sharing a tag or a look-alike of one with the input).
    """
    with read_tx(knit.engine) as conn:
        facts = reads.data_facts(conn, knit_id)
        if plan_id is not None:
            require_plan(conn, plan_id)
        entries = _entries(conn, facts, plan_id)
    tags = set(facts.user_tags) | {Tag(KEY_ID, knit_id)}
    if facts.finished_at is not None:
        tags.add(Tag(KEY_TIMESTAMP, format_ms(facts.finished_at)))
    if facts.transient is not None:
        tags.add(Tag(KEY_TRANSIENT, facts.transient))
    return {
        "knitId": knit_id,
        "tags": [str(t) for t in sort_tags(tags)],
        "transient": facts.transient,
        "summary": {
            "inputs": len(entries),
            "nominated": sum(1 for e in entries if e["nominated"]),
            "related": sum(1 for e in entries if e["related"]),
            "runs": sum(e["runCount"] for e in entries),
        },
        "inputs": entries,
    }


def _entries(conn: Connection, facts: reads.DataFacts, plan_id: str | None) -> list[dict]:
    active, holding = reads.plans_now(conn, plan_id)
    inputs = reads.plan_inputs(conn, active)
    nominated = reads.nominated_inputs(conn, facts.knit_id)
    used = reads.runs_using(conn, facts.knit_id, plan_id)
    data = why.DataTags(facts.user_tags)
    quick = _Unrelated(facts, holding)
    entries: list[tuple[tuple, dict]] = []
    for plan, plan_inputs in inputs.items():
        for point in plan_inputs:
            here = point.input_id in nominated
            if (
                not here
                and not point.pinned
                and point.input_id not in used
                and data.shares_nothing(point.tags, point.variants)
            ):
                entry, missing = quick.entry(point, plan_inputs, active[plan], data), len(point.tags)
            else:
                entry, missing = _entry(facts, point, plan_inputs, active[plan], here, used, holding, data)
            order = (not here, missing, len(entry["reasons"]), point.plan_created_at, plan, point.position)
            entries.append((order, entry))
    entries.sort(key=itemgetter(0))
    return [entry for _, entry in entries]


class _Unrelated:
    """Entries of inputs the Data shares nothing with (no tag, nothing alike, no pin, no Run), built with as little
    work as possible: the same reasons ``_entry`` derives, in the same words (a test holds them equal)."""

    def __init__(self, facts: reads.DataFacts, holding: set[int]) -> None:
        self.holding = holding
        self.transient = (
            [why.nomination_reasons(input_tags=(), pin_knit_id=None, pin_timestamp_ms=None, knit_id=facts.knit_id,
                                    data=why.DataTags(()), transient=facts.transient, timestamp_ms=None)[0].as_json()]
            if facts.transient is not None
            else []
        )  # fmt: skip
        self.inactive: dict[str, dict] = {}
        self.waits: dict[int, dict] = {}

    def entry(self, point: reads.InputFacts, plan_inputs: tuple, active: bool, data: why.DataTags) -> dict:
        reasons = [*self.transient, dict(point.lacking_all)]
        if not active:
            if point.plan_id not in self.inactive:
                self.inactive[point.plan_id] = why.plan_inactive(point.plan_id).as_json()
            reasons.append(self.inactive[point.plan_id])
        if len(plan_inputs) > 1:
            for other in plan_inputs:
                if other.input_id != point.input_id and other.input_id not in self.holding:
                    if other.input_id not in self.waits:
                        self.waits[other.input_id] = why.waits_for_input(
                            other.path, other.shown, nominated_here=False
                        ).as_json()
                    reasons.append(self.waits[other.input_id])
        entry = point.quiet_entry.copy()
        entry["active"] = active
        entry["reasons"] = reasons
        return entry


def _entry(
    facts: reads.DataFacts,
    point: reads.InputFacts,
    plan_inputs: tuple[reads.InputFacts, ...],
    active: bool,
    nominated: bool,
    used: dict[int, list[dict]],
    holding: set[int],
    data: why.DataTags,
) -> tuple[dict, int]:
    """One input's entry, and how many of its tags the Data lacks (for the order)."""
    reasons = why.nomination_reasons(
        input_tags=point.tags,
        pin_knit_id=point.pin_knit_id,
        pin_timestamp_ms=point.pin_timestamp,
        knit_id=facts.knit_id,
        data=data,
        transient=facts.transient,
        timestamp_ms=facts.finished_at,
    )
    if not active:
        reasons.append(why.plan_inactive(point.plan_id))
    if len(plan_inputs) > 1:
        empty = [o for o in plan_inputs if o.input_id != point.input_id and o.input_id not in holding]
        reasons += [why.waits_for_input(o.path, o.shown, nominated_here=nominated) for o in empty]
    else:
        empty = []
    runs = used.get(point.input_id, [])
    if nominated and not empty and runs:
        reasons.append(why.had_run(runs[:RUNS_SHOWN], len(runs)))
    lacking = next((r for r in reasons if r.code == why.MISSING_TAGS), None)
    missing = len(lacking.details["missing"]) if lacking is not None else 0
    # worth a person's attention: not an input whose every tag the Data lacks with nothing like them (on a
    # catalog of a thousand Plans, most inputs are that)
    close = lacking is None or missing < len(point.tags) or bool(lacking.details["didYouMean"])
    entry = {
        "plan": {"planId": point.plan_id, "image": point.image},
        "active": active,
        "path": point.path,
        "tags": list(point.shown),
        "nominated": nominated,
        "related": nominated or bool(runs) or close,
        "reasons": [r.as_json() for r in reasons],
        "runs": runs[:RUNS_SHOWN],
        "runCount": len(runs),
    }
    return entry, missing


#: Data listed per Plan input on the Plan page (the count says how many there are)
NEAR_MISSES_SHOWN = 20


def near_misses(knit: Knit, plan_id: str, *, limit: int = NEAR_MISSES_SHOWN) -> dict:
    """For each input of the Plan, usable Data lacking exactly one of its tags (look-alikes of it first)."""
    with read_tx(knit.engine) as conn:
        plan = require_plan(conn, plan_id)
        points = reads.plan_inputs(conn, [plan_id])[plan_id]
        inputs = []
        for point in points:
            misses, total = catalog_near_misses(conn, point, limit)
            tags = tags_of_data(conn, [m.knit_id for m in misses])
            inputs.append(
                {
                    "path": point.path,
                    "tags": point.shown_tags(),
                    "total": total,
                    "data": [
                        {
                            "knitId": m.knit_id,
                            "tags": [str(t) for t in sort_tags(tags[m.knit_id])],
                            "missing": str(m.missing),
                            "didYouMean": [str(t) for t in SimilarIndex(tags[m.knit_id]).like(m.missing)],
                        }
                        for m in misses
                    ],
                }
            )
    return {"planId": plan_id, "image": plan["image"], "inputs": inputs}


def run(knit: Knit, run_id: str) -> dict:
    """Why the Run exists (the event that created it, when, by whom or what) and why it is in its status."""
    with read_tx(knit.engine) as conn:
        facts = reads.run_facts(conn, run_id)
        detail = run_details(conn, [run_id])[0]
    action = run_story.action_message(facts)
    return {
        "runId": run_id,
        "status": facts.status.value,
        "plan": detail["plan"],
        "createdAt": format_ms(facts.created_at),
        "updatedAt": detail["updatedAt"],
        "cause": {
            "event": facts.cause,
            "ref": facts.cause_ref,
            "actor": facts.cause_actor,
            "at": format_ms(facts.created_at),
            "message": run_story.cause_message(facts),
        },
        "state": {"status": facts.status.value, "message": run_story.state_message(facts)}
        | ({"exit": detail["exit"]} if "exit" in detail else {}),
        "lastAction": None
        if action is None
        else {
            "action": facts.action,
            "actor": facts.action_actor,
            "at": format_ms(facts.action_at) if facts.action_at is not None else None,
            "message": action,
        },
        "inputs": detail["inputs"],
        "outputs": detail["outputs"],
    }
