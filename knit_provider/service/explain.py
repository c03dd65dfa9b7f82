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
    active, empty = reads.plans_now(conn, plan_id)
    inputs = reads.plan_inputs(conn, active)
    explainer = _Explainer(
        facts, empty, reads.nominated_inputs(conn, facts.knit_id), reads.runs_using(conn, facts.knit_id, plan_id)
    )
    entries = [
        explainer.entry(point, plan_inputs, active[plan])
        for plan, plan_inputs in inputs.items()
        for point in plan_inputs
    ]
    entries.sort(key=itemgetter(0))
    return [entry for _, entry in entries]


class _Explainer:
    """The entries of one explanation, each with the order it is listed in.

    Every reason comes from ``core.reasons``. What does not depend on the input is derived once and shared by the
    entries (the Data's transient state, an inactive Plan, a Plan input waiting for Data). An input not nominated,
    unpinned and unused fails the rule on its tags alone: when the Data shares no tag with it, its reason is
    ``missing_tags`` of all of them, and when nothing is even alike, the one the input keeps
    (``InputFacts.lacking_all``). Tests hold each shortcut to ``nomination_reasons``.
    """

    def __init__(
        self, facts: reads.DataFacts, empty: set[int], nominated: set[int], used: dict[int, list[dict]]
    ) -> None:
        self.facts, self.empty, self.nominated, self.used = facts, empty, nominated, used
        self.data = why.DataTags(facts.user_tags)
        self.transient = [
            r.as_json()
            for r in why.nomination_reasons(
                input_tags=(), pin_knit_id=None, pin_timestamp_ms=None, knit_id=facts.knit_id, data=self.data,
                transient=facts.transient, timestamp_ms=None,
            )
        ]  # fmt: skip
        self._inactive: dict[str, dict] = {}
        self._waits: dict[tuple[int, bool], dict] = {}
        self._empty_in: dict[str, bool] = {}

    def entry(self, point: reads.InputFacts, plan_inputs: tuple[reads.InputFacts, ...], active: bool) -> tuple:
        here = point.input_id in self.nominated
        runs = self.used.get(point.input_id, [])
        if here or runs or point.pinned or not self.data.texts.isdisjoint(point.texts):
            reasons = [r.as_json() for r in self._nomination(point)]
            lacking = next((r for r in reasons if r["reason"] == why.MISSING_TAGS), None)
            missing = len(lacking["missing"]) if lacking is not None else 0
        else:  # no tag shared: what nomination_reasons derives, without its other clauses
            if self.data.variant_keys.isdisjoint(point.variants):  # nothing alike: most inputs of a large catalog
                lacking = point.lacking_all.copy()
            else:
                lacking = why.missing_tags(point.tags, self.data, shares=False, texts=point.texts).as_json()
            reasons, missing = [*self.transient, lacking], len(point.tags)
        # worth a person's attention: not an input whose every tag the Data lacks with nothing like them
        close = lacking is None or missing < len(point.tags) or bool(lacking["didYouMean"])
        if not active:
            reasons.append(self._plan_inactive(point.plan_id))
        waiting = self._waiting(point, plan_inputs, here) if self._some_empty(plan_inputs) else []
        reasons += waiting
        if here and not waiting and runs:
            reasons.append(why.had_run(runs[:RUNS_SHOWN], len(runs)).as_json())
        entry = {
            "plan": point.plan_ref,
            "active": active,
            "path": point.path,
            "tags": point.shown_list,
            "nominated": here,
            "related": here or bool(runs) or close,
            "reasons": reasons,
            "runs": runs[:RUNS_SHOWN],
            "runCount": len(runs),
        }
        return (not here, missing, len(reasons), point.plan_created_at, point.plan_id, point.position), entry

    def _nomination(self, point: reads.InputFacts) -> list[why.Reason]:
        return why.nomination_reasons(
            input_tags=point.tags,
            input_texts=point.texts,
            pin_knit_id=point.pin_knit_id,
            pin_timestamp_ms=point.pin_timestamp,
            knit_id=self.facts.knit_id,
            data=self.data,
            transient=self.facts.transient,
            timestamp_ms=self.facts.finished_at,
        )

    def _plan_inactive(self, plan_id: str) -> dict:
        if plan_id not in self._inactive:
            self._inactive[plan_id] = why.plan_inactive(plan_id).as_json()
        return self._inactive[plan_id]

    def _some_empty(self, plan_inputs: tuple[reads.InputFacts, ...]) -> bool:
        """Whether an input of this Plan holds no nominated Data (then its other inputs' Data wait for it)."""
        plan_id = plan_inputs[0].plan_id
        if plan_id not in self._empty_in:
            self._empty_in[plan_id] = len(plan_inputs) > 1 and any(o.input_id in self.empty for o in plan_inputs)
        return self._empty_in[plan_id]

    def _waiting(self, point: reads.InputFacts, plan_inputs: tuple[reads.InputFacts, ...], here: bool) -> list[dict]:
        """The Plan's other inputs holding no nominated Data: no combination exists until they do."""
        waiting = []
        for other in plan_inputs:
            if other.input_id != point.input_id and other.input_id in self.empty:
                key = (other.input_id, here)
                if key not in self._waits:
                    self._waits[key] = why.waits_for_input(other.path, other.shown, nominated_here=here).as_json()
                waiting.append(self._waits[key])
        return waiting


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
