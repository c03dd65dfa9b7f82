"""Retention's pure rules (``core.retention``): ages, selections, the choice (keep exactly N per group, never an
input of an unfinished Run), and declared policies."""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from knit_provider.core.errors import InvalidInput
from knit_provider.core.retention import Candidate, Selection, choose, parse_age, parse_policies

pytestmark = pytest.mark.explain

DAY = 24 * 3600 * 1000
NOW = 1_800_000_000_000


def test_ages() -> None:
    assert parse_age("30d") == 30 * DAY and parse_age("1d12h") == DAY + 12 * 3600 * 1000
    assert parse_age("90m") == 90 * 60 * 1000 and parse_age(" 45s ") == 45_000
    for bad in ("", "30 days", "d", "-1d", "1w"):
        with pytest.raises(InvalidInput, match="older_than"):
            parse_age(bad)


def test_a_selection_must_select_something() -> None:
    with pytest.raises(InvalidInput, match="a selection of nothing would purge every Data"):
        Selection.parse()
    with pytest.raises(InvalidInput, match="per groups Data for keep_last: give keep_last too"):
        Selection.parse(tags=["a:b"], per=["project"])
    with pytest.raises(InvalidInput, match="transient: must be one of both, no, failed, not 'yes'"):
        Selection.parse(transient="yes")
    with pytest.raises(InvalidInput, match="system tag"):
        Selection.parse(tags=["knit#transient:failed"])
    with pytest.raises(InvalidInput, match=r"per\[0\]: a tag key"):
        Selection.parse(keep_last=1, per=["project:x"])
    assert Selection.parse(keep_last=0).keep_last == 0
    assert Selection.parse(tags=["type:model"], keep_last=3, per=["project"], older_than="7d").as_json() == {
        "tags": ["type:model"], "transient": "both", "keep_last": 3, "per": ["project"], "older_than": "7d",
    }  # fmt: skip


def data(n: int, *, group=(), age_days: float = 0, used=False, in_use=None) -> Candidate:
    return Candidate(f"d{n:03d}", NOW - int(age_days * DAY), 10, tuple(group), used, in_use)


def test_older_than_and_superseded_narrow_what_goes() -> None:
    population = [data(1, age_days=40, used=True), data(2, age_days=10, used=True), data(3, age_days=40)]
    old = choose(population, Selection.parse(older_than="30d"), NOW)
    assert [c.knit_id for c in old.selected] == ["d001", "d003"]
    gone = choose(population, Selection.parse(superseded=True), NOW)
    assert [c.knit_id for c in gone.selected] == ["d001", "d002"], "never used: not superseded"


def test_inputs_of_unfinished_runs_are_protected_never_selected() -> None:
    busy = data(1, age_days=40, used=True, in_use="run r uses it and has not finished (status waiting)")
    choice = choose([busy, data(2, age_days=40)], Selection.parse(older_than="1d"), NOW)
    assert [c.knit_id for c in choice.selected] == ["d002"] and choice.protected == [busy]
    assert choose([busy], Selection.parse(superseded=True), NOW).selected == [], "in use: not superseded either"


candidates = st.lists(
    st.tuples(st.sampled_from(["p0", "p1", "p2", None]), st.integers(0, 50), st.sampled_from([None, "busy"])),
    max_size=25,
)


@given(population=candidates, keep=st.integers(0, 4))
def test_keep_last_keeps_exactly_the_n_newest_of_each_group(population, keep) -> None:
    found = [data(n, group=(g,), age_days=age, in_use=busy) for n, (g, age, busy) in enumerate(population)]
    choice = choose(found, Selection.parse(keep_last=keep, per=["project"]), NOW)
    by_group = defaultdict(list)
    for c in found:
        by_group[c.group].append(c)
    gone = {c.knit_id for c in choice.selected}
    for members in by_group.values():
        newest = sorted(members, key=lambda c: (c.timestamp, c.knit_id), reverse=True)
        assert not {c.knit_id for c in newest[:keep]} & gone, "the N newest are never selected"
        older = newest[keep:]
        assert {c.knit_id for c in older if not c.in_use} <= gone, "every older one goes"
        assert not {c.knit_id for c in older if c.in_use} & gone, "unless an unfinished Run uses it"
        assert len([c for c in newest if c.knit_id not in gone]) == min(keep, len(members)) + len(
            [c for c in older if c.in_use]
        )


def test_policies_from_a_document() -> None:
    document = {
        "policies": [
            {"name": "models", "tags": ["type:model"], "keep_last": 3, "per": ["project"]},
            {"name": "failed", "transient": "failed", "older_than": "7d"},
        ]
    }
    models, failed = parse_policies(document, source="retention.yaml")
    assert models.name == "models" and models.selection.keep_last == 3 and models.selection.per == ("project",)
    assert failed.selection.older_than_ms == 7 * DAY
    assert parse_policies(document["policies"], source="x") == [models, failed], "a bare list too"
    assert parse_policies(None, source="x") == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"policy": []}, "retention.yaml: unknown key(s) 'policy'"),
        ({"policies": "x"}, "retention.yaml: expected a list of policies"),
        ([{"tags": ["a:b"]}], "retention.yaml: policy 1: needs a name"),
        ([{"name": "p", "keep": 3}], "retention.yaml: policy 1: unknown key(s) keep"),
        ([{"name": "p"}], "retention.yaml: policy 'p': where: select by at least one of"),
        ([{"name": "p", "keep_last": "3"}], "retention.yaml: policy 'p': keep_last: must be a whole number"),
        ([{"name": "p", "older_than": "soon"}], "retention.yaml: policy 'p': older_than: not a duration"),
        ([{"name": "p", "tags": ["a:b"]}, {"name": "p", "tags": ["c:d"]}], "policy 'p': two policies have this name"),
    ],
)
def test_policy_errors_name_the_file_and_the_policy(document, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_policies(document, source="retention.yaml")
    assert message in str(refused.value) and "\n" not in str(refused.value)
