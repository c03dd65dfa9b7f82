"""``knit explain`` builds most entries of a large catalog by shortcuts (``service.explain._Explainer``): an input
the Data shares no tag with gets ``missing_tags`` of all its tags, or the reason the input keeps when nothing is
even alike. Each entry must still say exactly what ``core.reasons`` derives for it, in the same order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knit_provider.catalog.explain_reads import DataFacts, InputFacts
from knit_provider.core import reasons as why
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.tags import Tag, parse_tag, sort_tags
from knit_provider.service.explain import _Explainer

pytestmark = pytest.mark.explain

KNIT_ID = "0f3c0000-0000-4000-8000-000000000001"
# a few keys and values, with look-alikes among them (case, one edit), so every shortcut is taken
_texts = st.sampled_from(["type:model", "type:Model", "type:modle", "mode:train", "mode:trian", "mode:test", "a:1",
                          "a:2", "b:1", "project:p1", "project:p12"])  # fmt: skip
_status = st.sampled_from([RunStatus.DONE, RunStatus.RUNNING, RunStatus.FAILED])


def _input(input_id: int, plan_id: str, texts: frozenset[str], position: int = 0) -> InputFacts:
    tags = tuple(sort_tags({parse_tag(t) for t in texts}))
    return InputFacts(input_id, plan_id, "img:1", 1, position, f"/in/{position}", tags, None, None)


def _derived(point: InputFacts, facts: DataFacts, data: why.DataTags) -> list[dict]:
    return [
        r.as_json()
        for r in why.nomination_reasons(
            input_tags=point.tags, pin_knit_id=None, pin_timestamp_ms=None, knit_id=facts.knit_id, data=data,
            transient=facts.transient, timestamp_ms=facts.finished_at,
        )
    ]  # fmt: skip


@given(
    wanted=st.lists(st.frozensets(_texts, min_size=1, max_size=3), min_size=1, max_size=6),
    has=st.frozensets(_texts, max_size=4),
    status=_status,
    active=st.booleans(),
)
def test_every_entry_says_what_the_rules_derive(wanted, has, status, active) -> None:
    user_tags = frozenset(parse_tag(t) for t in has)
    facts = DataFacts(KNIT_ID, "run-1", status, 5 if status is RunStatus.DONE else None, None, user_tags)
    points = [_input(n, f"plan-{n}", texts) for n, texts in enumerate(wanted)]
    explainer = _Explainer(facts, empty=set(), nominated=set(), used={})
    data = why.DataTags(user_tags)
    for point in points:
        order, entry = explainer.entry(point, (point,), active)
        expected = _derived(point, facts, data) + ([] if active else [why.plan_inactive(point.plan_id).as_json()])
        assert entry["reasons"] == expected
        assert entry["nominated"] is False and entry["tags"] == [str(t) for t in point.tags]
        lacking = next((r for r in expected if r["reason"] == why.MISSING_TAGS), None)
        assert order[1] == (len(lacking["missing"]) if lacking else 0)
        close = lacking is None or len(lacking["missing"]) < len(point.tags) or bool(lacking["didYouMean"])
        assert entry["related"] is close


def test_an_input_waits_for_the_empty_inputs_of_its_plan_only() -> None:
    facts = DataFacts(KNIT_ID, "run-1", RunStatus.DONE, 5, None, frozenset({Tag("type", "model")}))
    first = _input(1, "plan", frozenset({"type:model"}), 0)
    second = _input(2, "plan", frozenset({"type:data"}), 1)
    plan_inputs = (first, second)
    explainer = _Explainer(facts, empty={2}, nominated={1}, used={})
    _, entry = explainer.entry(first, plan_inputs, True)
    assert [r["reason"] for r in entry["reasons"]] == [why.WAITS_FOR_INPUT]
    assert entry["reasons"][0]["path"] == "/in/1" and entry["nominated"] is True
    _, other = explainer.entry(second, plan_inputs, True)
    assert [r["reason"] for r in other["reasons"]] == [why.MISSING_TAGS]  # it is the empty one: it waits for none
    _, alone = _Explainer(facts, empty=set(), nominated={1}, used={}).entry(first, plan_inputs, True)
    assert alone["reasons"] == []
