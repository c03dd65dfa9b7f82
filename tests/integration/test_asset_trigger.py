"""``KnitAssetTrigger`` and ``KnitAsset`` on a real catalog, outside Airflow: the events a watcher yields, one per
matching Data, none again after a restart, several watchers on one shared poll."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from knit_provider.assets import KnitAsset, knit_ids
from knit_provider.service import assets, data
from knit_provider.service.assets import AssetSpec
from knit_provider.triggers import assets as trigger_module
from knit_provider.triggers.assets import KnitAssetTrigger

pytestmark = pytest.mark.assets


@pytest.fixture
def configured(knit, catalog_url, monkeypatch):
    """The ``[knit]`` settings a triggerer would read, pointing at the test's catalog."""
    monkeypatch.setenv("AIRFLOW__KNIT__CATALOG_URL", catalog_url)
    monkeypatch.setenv("AIRFLOW__KNIT__KNIT_HOME", str(knit.home))
    monkeypatch.setenv("AIRFLOW__KNIT__POLL_INTERVAL", "0.05")
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example")
    return knit


async def collect(triggers: list[KnitAssetTrigger], action, *, settle: float = 1.0) -> list[list[dict]]:
    """Run the triggers, do ``action`` once they watch, and return each one's event payloads after ``settle`` s."""
    got: list[list[dict]] = [[] for _ in triggers]

    async def run(index: int, trigger: KnitAssetTrigger) -> None:
        async for event in trigger.run():
            got[index].append(event.payload)

    tasks = [asyncio.create_task(run(i, t)) for i, t in enumerate(triggers)]
    await asyncio.sleep(0.5)  # the watches are in the catalog
    await asyncio.to_thread(action)
    await asyncio.sleep(settle)
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return got


def test_the_trigger_serializes_to_its_identity_and_a_knit_asset_is_an_airflow_asset_with_a_watcher() -> None:
    trigger = KnitAssetTrigger(tags=["type:model", "project:p"])
    classpath, kwargs = trigger.serialize()
    assert classpath == "knit_provider.triggers.assets.KnitAssetTrigger"
    assert kwargs == {"tags": ["project:p", "type:model"], "catalog_name": "knit", "knit_conn_id": "knit_default",
                      "backfill": False}  # fmt: skip
    assert KnitAssetTrigger(**kwargs).serialize() == (classpath, kwargs)
    asset = KnitAsset(tags=["type:model", "project:p"])
    assert (asset.name, asset.uri, asset.group) == ("knit: project:p, type:model", AssetSpec.of(kwargs["tags"]).uri,
                                                    "knit")  # fmt: skip
    (watcher,) = asset.watchers
    assert watcher.trigger.serialize() == (classpath, kwargs)
    assert KnitAsset(tags=["project:p", "type:model"], watch=False).watchers == []


def test_a_watcher_yields_one_event_per_matching_data_and_a_restart_yields_none_again(configured, make_dir) -> None:
    knit = configured
    pushed: list[str] = []

    def burst() -> None:
        for i in range(6):
            pushed.append(data.push_dir(knit, make_dir(f"d{i}"), ["type:model", "project:p", f"n:{i}"])["knitId"])
        data.push_dir(knit, make_dir("other"), ["type:model"])

    (events,) = asyncio.run(collect([KnitAssetTrigger(tags=["type:model", "project:p"])], burst))
    assert [e["knit_id"] for e in events] == pushed
    assert events[0]["data_url"] == f"http://airflow.example/knit/data/{pushed[0]}"
    assert events[0]["plan"] == "knit#uploaded" and "n:0" in events[0]["tags"]
    assert knit_ids({"asset": [type("E", (), {"extra": {"payload": e}}) for e in events]}) == pushed
    later = data.push_dir(knit, make_dir("later"), ["type:model", "project:p"])["knitId"]
    (again,) = asyncio.run(collect([KnitAssetTrigger(tags=["type:model", "project:p"])], lambda: None))
    assert [e["knit_id"] for e in again] == [later], "a restarted watcher sends only what it never sent"


def test_watchers_of_several_assets_share_one_poll_of_the_feed(configured, make_dir, monkeypatch) -> None:
    knit = configured
    polls = []
    real_head = assets.feed_head
    monkeypatch.setattr(trigger_module.assets, "feed_head", lambda k: polls.append(1) or real_head(k))
    triggers = [KnitAssetTrigger(tags=tags) for tags in (["type:model"], ["type:model", "project:p"], ["x:y"])]
    got = asyncio.run(
        collect(triggers, lambda: data.push_dir(knit, make_dir(), ["type:model", "project:p"]), settle=1.0)
    )
    assert [len(g) for g in got] == [1, 1, 0]
    # ~1.5 s at 0.05 s per poll: one poller makes ~30 polls; three independent ones would make ~90
    assert len(polls) < 60, f"{len(polls)} polls: the watchers did not share one"


def test_plan_dags_declare_the_knit_assets_they_consume_and_produce(configured) -> None:
    """Inlets: each input's tag set; outlets: every tag set the outputs' Data carry that a watched KnitAsset or a
    downstream Plan's input asks for, and the outputs' own; the task emits no outlet event itself."""
    from knit_provider.dags.factory import knit_dags
    from knit_provider.service import plans

    knit = configured
    train = plans.apply(
        knit,
        "image: repo/train:1\ninputs: [{path: /in/d, tags: ['type:dataset', 'project:p']}]\n"
        "outputs: [{path: /out/m, tags: ['type:model', 'project:p']}]\nlog: {tags: ['type:log']}\n",
    )
    plans.apply(
        knit,
        "image: repo/eval:1\ninputs: [{path: /in/m, tags: ['type:model']}]\n"
        "outputs: [{path: /out/e, tags: ['type:eval']}]\n",
    )
    assets.start_watch(knit, AssetSpec.of(["project:p", "type:model"]))
    assets.start_watch(knit, AssetSpec.of(["type:other"]))
    dags = knit_dags()
    (dag,) = [d for d in dags.values() if d.dag_id.endswith(train["planId"][:8])]
    task = dag.get_task("run")
    assert [a.name for a in task.inlets] == ["knit: project:p, type:dataset"]
    assert sorted(a.name for a in task.outlets) == [
        "knit: project:p, type:model",  # its output's own, and the watched asset's
        "knit: type:log",
        "knit: type:model",  # the eval Plan's input
    ]
    watched = next(a for a in task.outlets if a.name == "knit: project:p, type:model")
    consumer = KnitAsset(tags=["type:model", "project:p"])  # a classic DAG's schedule, with the defaults
    assert [w.trigger.serialize() for w in watched.watchers] == [w.trigger.serialize() for w in consumer.watchers], (
        "a watched asset is declared with the consumer's very watcher: Airflow's sync sees one trigger, not none"
    )
    assert all(a.watchers == [] for a in task.inlets + task.outlets if a is not watched)
