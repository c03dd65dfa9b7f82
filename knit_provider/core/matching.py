"""Nomination and combination rules, pure: the catalog implements them in SQL, tests check it against these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from itertools import product

from knit_provider.core.plan_spec import InputSpec
from knit_provider.core.tags import Tag


def pins_match(
    pin_knit_id: str | None, pin_timestamp_ms: int | None, *, knit_id: str, timestamp_ms: int | None
) -> bool:
    """An input's ``knit#id`` / ``knit#timestamp`` pins, when set, must equal the Data's."""
    if pin_knit_id is not None and pin_knit_id != knit_id:
        return False
    return pin_timestamp_ms is None or pin_timestamp_ms == timestamp_ms


def is_nominated(
    spec_input: InputSpec, *, knit_id: str, user_tags: Set[Tag], done: bool, timestamp_ms: int | None
) -> bool:
    """Data fills an input when its Run is done, it carries every user tag, and it matches the pins."""
    if not done:
        return False
    if not set(spec_input.tags) <= user_tags:
        return False
    return pins_match(spec_input.pin_knit_id, spec_input.pin_timestamp_ms, knit_id=knit_id, timestamp_ms=timestamp_ms)


def new_combinations(
    input_ids: Sequence[int], nominated: Mapping[int, Set[str]], new: Mapping[int, Set[str]]
) -> list[tuple[str, ...]]:
    """Every combination (one Data per input, in input order) holding at least one new nomination, once.

    Split by the first input holding a new nomination: before it only old Data, at it only new Data,
    after it anything. The parts are disjoint and together cover every new combination.
    """
    combos: list[tuple[str, ...]] = []
    for j, input_id in enumerate(input_ids):
        fresh = new.get(input_id)
        if not fresh:
            continue
        pools = [sorted(nominated[i] - new.get(i, set())) for i in input_ids[:j]]
        pools.append(sorted(fresh))
        pools += [sorted(nominated[i]) for i in input_ids[j + 1 :]]
        combos.extend(product(*pools))
    return combos
