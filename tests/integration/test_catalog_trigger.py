"""``KnitCatalogTrigger`` polling a real catalog: it fires for work the catalog holds, not for events."""

from __future__ import annotations

import asyncio
import contextlib
import threading

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


async def generator_event_with_a_push_once_asked(
    knit, catalog_url: str, make_dir, asked: threading.Event, **options
) -> list[dict]:
    """The generator's trigger's first event, a raw Data pushed once its forced-pass check has asked Airflow."""

    async def push_once_asked() -> None:
        await asyncio.to_thread(asked.wait, 10)
        await asyncio.to_thread(data.push_dir, knit, make_dir(), ["t:raw"])

    pushing = asyncio.create_task(push_once_asked())
    events = await first_events(trigger_for(knit, catalog_url, forced_dag_id="knit_generator", **options), 1, 10)
    await pushing
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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_waiting_runs_wake_the_generator_while_a_forced_pass_check_is_unanswered(
    knit, catalog_url, make_dir, monkeypatch
) -> None:
    """Asking Airflow whether a pass was forced (a queued DagRun of the generator) can take seconds in a triggerer;
    meanwhile the trigger keeps polling the catalog and fires for waiting Runs (issue 17, bench/fanout.py)."""
    from knit_provider.triggers import catalog as trigger_module

    asked, answer = threading.Event(), threading.Event()

    def slow_queued_runs(dag_id: str) -> int:
        asked.set()
        answer.wait(30)  # Airflow answers only once the test is over
        return 0

    monkeypatch.setattr(trigger_module, "_queued_runs", slow_queued_runs)
    monkeypatch.setattr(trigger_module, "FORCE_CHECK_S", 0.0)
    plans.apply(knit, PLAN)

    try:
        events = asyncio.run(generator_event_with_a_push_once_asked(knit, catalog_url, make_dir, asked))
    finally:
        answer.set()
    assert asked.is_set() and events == [{"reason": "dispatch", "dispatchable": 1, "held": 0}]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_queued_generator_dagrun_forces_a_pass(knit, catalog_url, monkeypatch) -> None:
    from knit_provider.triggers import catalog as trigger_module

    monkeypatch.setattr(trigger_module, "_queued_runs", lambda dag_id: 1 if dag_id == "knit_generator" else 0)
    monkeypatch.setattr(trigger_module, "FORCE_CHECK_S", 0.0)
    trigger = trigger_for(knit, catalog_url, forced_dag_id="knit_generator")
    (event,) = asyncio.run(first_events(trigger, 1, timeout=5))
    assert event == {"reason": "forced", "dispatchable": 0, "held": 0}


def test_a_trigger_that_fires_while_asking_airflow_lets_the_request_read_its_answer(
    knit, catalog_url, make_dir, monkeypatch
) -> None:
    """The Task SDK's requests from a trigger share one channel, answers read in order: a request cancelled between
    writing and reading leaves its answer to the next reader, which killed Airflow 3.1's trigger runner ("Response
    read out of order") when the generator fired during a forced-pass check. The request, like the SDK's, goes
    through the event loop from asgiref's thread (``async_to_sync``)."""
    from asgiref.sync import async_to_sync

    from knit_provider.triggers import catalog as trigger_module

    asked, answered, read = threading.Event(), threading.Event(), threading.Event()

    async def request_over_the_channel() -> int:
        asked.set()  # written
        while not answered.is_set():
            await asyncio.sleep(0.01)
        read.set()  # its own answer read back
        return 0

    monkeypatch.setattr(trigger_module, "_queued_runs", lambda dag_id: async_to_sync(request_over_the_channel)())
    monkeypatch.setattr(trigger_module, "FORCE_CHECK_S", 0.0)
    plans.apply(knit, PLAN)

    async def scenario() -> list[dict]:
        events = await generator_event_with_a_push_once_asked(knit, catalog_url, make_dir, asked, once=True)
        answered.set()  # the supervisor answers after the trigger fired and ended
        await asyncio.to_thread(read.wait, 5)
        return events

    events = asyncio.run(scenario())
    assert events == [{"reason": "dispatch", "dispatchable": 1, "held": 0}]
    assert read.is_set(), "the request was abandoned between writing and reading"
