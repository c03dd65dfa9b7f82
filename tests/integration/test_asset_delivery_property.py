"""Property test of KnitAsset delivery with both senders: a Run's task (its outputs' events as outlet events) and
the assets' watchers (everything else), against a real catalog.

Random sequences of pushes, Runs concluded by their task (which reports its events, dies before Airflow gets them,
or is overtaken by a settlement), Runs concluded without a task, watcher polls, settlements and confirmations end,
after a last settlement and polls, with every usable Data that carries an asset's tags delivered to it exactly once:
nothing lost, nothing twice (issue 13: "nothing is lost and nothing is delivered twice").
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from knit_dev.lifecycle import finish

from knit_provider.service import Knit, assets, data, plans, runs
from knit_provider.service.assets import AssetSpec

pytestmark = pytest.mark.assets

_namespaces = itertools.count()

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("push_input")),
        st.tuples(st.just("push_model"), st.booleans()),
        st.tuples(st.just("task_ends"), st.sampled_from(["reported", "died", "settled_first"])),
        st.tuples(st.just("run_ends_without_task")),
        st.tuples(st.just("poll"), st.integers(0, 1)),
        st.tuples(st.just("settle")),
        st.tuples(st.just("confirm")),
    ),
    max_size=14,
)


class Airflow:
    """What Airflow received: every asset event, in order, as ``(uri, knit_id)``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.unconfirmed: list[tuple[str, str]] = []

    def receive(self, uri: str, knit_id: str) -> None:
        self.events.append((uri, knit_id))
        self.unconfirmed.append((uri, knit_id))

    def holds(self, uri: str, knit_ids) -> dict[str, tuple[int, int]]:
        return {k: (1, i) for i, (u, k) in enumerate(self.events) if u == uri and k in knit_ids}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_every_usable_matching_data_reaches_each_asset_once_whoever_sends_it(knit: Knit, make_dir, steps) -> None:
    n = next(_namespaces)  # tags of this example only: earlier examples' Data and watches never match
    model, proj, source = f"type{n}:model", f"proj{n}:p", f"in{n}:x"
    specs = [AssetSpec.of([model]), AssetSpec.of([model, proj])]
    for spec in specs:
        assets.start_watch(knit, spec)
    plans.apply(
        knit,
        f"image: repo/train{n}:1\ninputs: [{{path: /in/d, tags: ['{source}']}}]\n"
        f"outputs: [{{path: /out/a, tags: ['{model}', '{proj}']}}, {{path: /out/b, tags: ['{model}']}}]\n",
    )
    airflow = Airflow()

    def poll(spec: AssetSpec) -> None:
        for extra in assets.due_events(knit, spec, head=assets.feed_head(knit)):
            airflow.receive(spec.uri, extra["knit_id"])

    def settle() -> None:
        assets.settle_unconfirmed(knit, airflow.holds, in_flight_ms=-1000)

    def waiting_run() -> str | None:
        found = [
            r["runId"]
            for r in runs.find(knit, statuses=["waiting"])
            if r["plan"].get("image", "").startswith(f"repo/train{n}:")
        ]
        return found[0] if found else None

    for step in steps:
        match step:
            case ("push_input",):
                data.push_dir(knit, make_dir(), [source])
            case ("push_model", with_proj):
                data.push_dir(knit, make_dir(), [model, proj] if with_proj else [model])
            case ("task_ends", how):
                run_id = waiting_run()
                if run_id is None:
                    continue
                knit.outlet_claims = []
                finish(knit, run_id)
                claims, knit.outlet_claims = knit.outlet_claims, None
                if how == "died":  # the task died before Airflow recorded its success: no event
                    continue
                if how == "settled_first":  # a settlement ran between the Run's end and the task's report
                    settle()
                for spec, extra in assets.task_outlet_events(knit, claims):
                    airflow.receive(spec.uri, extra["knit_id"])
            case ("run_ends_without_task",):
                run_id = waiting_run()
                if run_id is not None:
                    finish(knit, run_id)
            case ("poll", which):
                poll(specs[which])
            case ("settle",):
                settle()
            case ("confirm",):
                for uri, knit_id in airflow.unconfirmed:
                    assets.confirm(knit, uri, knit_id)
                airflow.unconfirmed.clear()

    settle()
    for _ in range(3):
        for spec in specs:
            poll(spec)
    assert len(airflow.events) == len(set(airflow.events)), f"delivered twice: {airflow.events}"
    for spec in specs:
        usable = {d["knitId"] for d in data.find(knit, list(spec.tags), transient="no")}
        got = {k for u, k in airflow.events if u == spec.uri}
        assert got == usable, f"{spec.name}: missing {usable - got}, unexpected {got - usable}"
