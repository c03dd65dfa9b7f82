"""Unit and property tests for the pure nomination predicate and the combination split."""

from __future__ import annotations

from itertools import product

from hypothesis import given
from hypothesis import strategies as st

from knit_provider.core.matching import is_nominated, new_combinations
from knit_provider.core.plan_spec import InputSpec
from knit_provider.core.tags import Tag

A, B = Tag("type", "a"), Tag("project", "p")


def test_nominated_needs_done_all_tags_and_pins() -> None:
    spec = InputSpec(path="/in", tags=(A, B))
    assert is_nominated(spec, knit_id="k", user_tags={A, B, Tag("x", "y")}, done=True, timestamp_ms=1)
    assert not is_nominated(spec, knit_id="k", user_tags={A, B}, done=False, timestamp_ms=None)
    assert not is_nominated(spec, knit_id="k", user_tags={A}, done=True, timestamp_ms=1)
    pinned = InputSpec(path="/in", tags=(A,), pin_knit_id="k1", pin_timestamp_ms=5)
    assert is_nominated(pinned, knit_id="k1", user_tags={A}, done=True, timestamp_ms=5)
    assert not is_nominated(pinned, knit_id="k2", user_tags={A}, done=True, timestamp_ms=5)
    assert not is_nominated(pinned, knit_id="k1", user_tags={A}, done=True, timestamp_ms=6)


def test_two_datasets_times_three_models_is_six() -> None:
    nominated = {1: {"d1", "d2"}, 2: {"m1", "m2", "m3"}}
    assert len(new_combinations([1, 2], nominated, nominated)) == 6


pools = st.lists(st.sets(st.sampled_from("abcdef"), max_size=4), min_size=1, max_size=3)


@given(old=pools, data=st.data())
def test_new_combinations_are_exactly_the_new_ones_once(old: list[set[str]], data: st.DataObject) -> None:
    """new_combinations = product(after) - product(before), with no repeats."""
    new = [data.draw(st.sets(st.sampled_from("ghij"), max_size=2)) for _ in old]
    ids = list(range(len(old)))
    after = {i: old[i] | new[i] for i in ids}
    combos = new_combinations(ids, after, {i: new[i] for i in ids})
    expected = set(product(*[sorted(after[i]) for i in ids])) - set(product(*[sorted(old[i]) for i in ids]))
    assert len(combos) == len(set(combos))
    assert set(combos) == expected
