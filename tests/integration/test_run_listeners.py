"""Knit Run status changes reach Airflow's listeners (beyond Knitfab): a listener implementing the
``knit_run_state_changed`` spec, registered with Airflow's real (pluggy) listener manager, is called once per
change, in order, with the Run's JSON; one that raises does not stop the others or the hand-over."""

from __future__ import annotations

import pytest
from airflow.listeners import hookimpl
from airflow.sdk.listener import get_listener_manager

from knit_provider.listeners.publish import listener_manager, publish
from knit_provider.service import data, plans, runs
from knit_provider.service.hook_calls import HookSettings
from knit_provider.service.lifecycle_hooks import consume_events

pytestmark = pytest.mark.run_control
PLAN = "image: knit-ls/sh:1.0\ninputs: [{path: /in/x, tags: ['ls:in']}]\noutputs: [{path: /out/y, tags: ['ls:out']}]\n"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str]] = []

    @hookimpl
    def knit_run_state_changed(self, run_id, previous_status, status, run) -> None:
        self.seen.append((run_id, previous_status, status, run["status"]))


class Broken:
    @hookimpl
    def knit_run_state_changed(self, run_id) -> None:
        raise RuntimeError("a deployment's listener is broken")


@pytest.fixture
def listeners():
    manager = get_listener_manager()
    added = [Recorder(), Broken()]
    yield manager, added
    for listener in added:
        if manager.pm.is_registered(listener):
            manager.pm.unregister(listener)


def test_a_registered_listener_gets_each_change_once_in_order(knit, make_dir, listeners) -> None:
    manager, (recorder, broken) = listeners
    manager.add_listener(recorder)  # registered before Knit adds its spec, as a plugin's listener would be
    assert listener_manager() is manager and manager.hook.knit_run_state_changed.has_spec()
    plan_id = plans.apply(knit, PLAN)["planId"]
    data.push_dir(knit, make_dir(files={"a": "1"}), ["ls:in"])
    (run,) = runs.find(knit, plan_ids=[plan_id])
    runs.stop(knit, run["runId"], fail=True)
    assert consume_events(knit, HookSettings(), publish=publish) == 2
    assert recorder.seen == [
        (run["runId"], "waiting", "aborting", "aborting"),
        (run["runId"], "aborting", "failed", "failed"),
    ]


def test_a_failing_listener_is_logged_and_the_journal_still_consumed(knit, make_dir, listeners, caplog) -> None:
    manager, (_recorder, broken) = listeners
    manager.add_listener(broken)
    plan_id = plans.apply(knit, PLAN)["planId"]
    data.push_dir(knit, make_dir(files={"a": "1"}), ["ls:in"])
    (run,) = runs.find(knit, plan_ids=[plan_id])
    runs.stop(knit, run["runId"], fail=True)
    assert consume_events(knit, HookSettings(), publish=publish) == 2
    assert "a listener failed on Run" in caplog.text
    assert consume_events(knit, HookSettings(), publish=publish) == 0
