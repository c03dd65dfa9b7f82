"""``KnitCatalogTrigger`` polling a real catalog: it fires for work the catalog holds, not for events."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from knit_provider.service import data, plans
from knit_provider.triggers.catalog import KnitCatalogTrigger

PLAN = "image: r/a:v1\ninputs: [{path: /in, tags: ['t:raw']}]\noutputs: [{path: /out, tags: ['t:mid']}]\n"


def trigger_for(knit, catalog_url: str, **kwargs) -> KnitCatalogTrigger:
    options = {"poll_interval": 0.05, "reconcile_interval": 3600, "redispatch_after": 3600, **kwargs}
    return KnitCatalogTrigger(catalog_url=catalog_url, knit_home=str(knit.home), **options)


async def first_events(trigger: KnitCatalogTrigger, count: int, timeout: float) -> list[dict]:
    events: list[dict] = []

    async def collect() -> None:
        async for event in trigger.run():
            events.append(event.payload)
            if len(events) == count:
                return

    with contextlib.suppress(TimeoutError):  # fewer events than asked for: the test says how many it expects
        await asyncio.wait_for(collect(), timeout)
    return events


def test_serializes_to_its_own_classpath_and_kwargs(knit, catalog_url) -> None:
    trigger = trigger_for(knit, catalog_url, forced_dag_id="knit_generator", once=False)
    classpath, kwargs = trigger.serialize()
    assert classpath == "knit_provider.triggers.catalog.KnitCatalogTrigger"
    assert KnitCatalogTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_a_sensor_trigger_fires_once_for_waiting_runs(knit, catalog_url, make_dir) -> None:
    plans.apply(knit, PLAN)
    assert asyncio.run(first_events(trigger_for(knit, catalog_url), 1, timeout=0.5)) == []
    data.push_dir(knit, make_dir(), ["t:raw"])
    (event,) = asyncio.run(first_events(trigger_for(knit, catalog_url), 2, timeout=2))
    assert event == {"reason": "dispatch", "dispatchable": 1, "held": 0}


def test_a_watcher_trigger_fires_again_only_for_new_work(knit, catalog_url, make_dir) -> None:
    plans.apply(knit, PLAN)
    data.push_dir(knit, make_dir(), ["t:raw"])

    async def scenario() -> list[dict]:
        trigger = trigger_for(knit, catalog_url, once=False)
        events: list[dict] = []

        async def collect() -> None:
            async for event in trigger.run():
                events.append(event.payload)
                if len(events) == 1:  # new work arrives while the first wake-up is still unclaimed
                    await asyncio.to_thread(data.push_dir, knit, make_dir(), ["t:raw"])
                if len(events) == 2:
                    return

        await asyncio.wait_for(collect(), 5)
        await asyncio.sleep(0)
        return events

    events = asyncio.run(scenario())
    assert [e["dispatchable"] for e in events] == [1, 2], "the same pending work does not fire twice"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_idle_trigger_ends_its_deferral_after_the_idle_timeout(knit, catalog_url) -> None:
    (event,) = asyncio.run(first_events(trigger_for(knit, catalog_url, idle_timeout=0.2), 1, timeout=3))
    assert event["reason"] == "idle"
