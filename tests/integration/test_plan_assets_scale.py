"""``service.assets.plan_assets`` on many Plans (issue 17): the outlets found through its tag index are exactly those
of the definition (every input or watched tag set that one of the Plan's output tag sets contains). Its speed is
measured by ``bench/many_plans.py``, never asserted."""

from __future__ import annotations

import contextlib
import random

import pytest

from knit_provider.catalog import assets as catalog_assets
from knit_provider.catalog.engine import read_tx
from knit_provider.core.errors import Conflict
from knit_provider.service import Knit, assets, plans
from knit_provider.service.assets import AssetSpec, PlanAssets, plan_assets

pytestmark = pytest.mark.scale
VOCABULARY = [f"{key}:{value}" for key in ("type", "project", "stage") for value in ("a", "b", "c")]


def tag_list(rng: random.Random) -> list[str]:
    return sorted(set(rng.sample(VOCABULARY, rng.randint(1, 3))))


def plan_yaml(n: int, rng: random.Random) -> str:
    inputs = "".join(f"  - path: /in/{i}\n    tags: {tag_list(rng)}\n" for i in range(rng.randint(1, 2)))
    outputs = "".join(f"  - path: /out/{i}\n    tags: {tag_list(rng)}\n" for i in range(rng.randint(1, 2)))
    return f"image: r/p{n}:v1\ninputs:\n{inputs}outputs:\n{outputs}"


def by_definition(knit: Knit) -> dict[str, PlanAssets]:
    """Each output tag set against every candidate, as the docstring of ``PlanAssets`` says."""
    with read_tx(knit.engine) as conn:
        inputs, outputs = catalog_assets.port_tag_sets(conn)
        watched = [tuple(w["tags"]) for w in catalog_assets.watches(conn)]
    candidates = {t for sets in inputs.values() for t in sets} | set(watched)
    found = {}
    for plan_id in set(inputs) | set(outputs):
        outlets = set()
        for produced in outputs.get(plan_id, []):
            outlets |= {produced} | {c for c in candidates if set(c) <= set(produced)}
        found[plan_id] = PlanAssets(
            tuple(sorted(set(inputs.get(plan_id, [])))), tuple(sorted(outlets)), frozenset(watched)
        )
    return found


@pytest.fixture
def many(knit: Knit) -> Knit:
    rng = random.Random(17)
    for n in range(80):
        with contextlib.suppress(Conflict):  # a Plan that would close a cycle is refused, changing nothing
            plans.apply(knit, plan_yaml(n, rng))
    for _ in range(5):
        assets.start_watch(knit, AssetSpec.of(tag_list(rng)))
    return knit


def test_the_outlets_are_those_of_the_definition(many: Knit) -> None:
    expected = by_definition(many)
    assert len(expected) > 20 and plan_assets(many) == expected
    assert sum(len(p.outlets) for p in expected.values()) > 2 * len(expected), "the catalog makes shared outlets"
