"""Knitfab's lifecycle hooks on a real catalog, the real process runner and a real HTTP server (beyond Knitfab in
delivery: an outbox, at least once, in order per Run and URL, never holding a Run)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from knit_dev.hook_receiver import HookReceiver

from knit_provider.runners import ImageMap, make_runner
from knit_provider.service import data, execution, lifecycle_hooks, plans, runs
from knit_provider.service.hook_calls import HookSettings
from knit_provider.service.lifecycle_hooks import after_run, consume_events, deliver_due, deliveries, hook_work

pytestmark = pytest.mark.run_control
PLAN = (
    "image: knit-hk/sh:1.0\nargs: ['{script}']\n"
    "inputs: [{{path: /in/x, tags: ['hk:in']}}]\noutputs: [{{path: /out/y, tags: ['hk:out']}}]\n"
    "log: {{tags: ['hk:log']}}\n"
)
KNITFAB_KEYS = ["runId", "status", "updatedAt", "plan", "inputs", "outputs", "log"]


@pytest.fixture
def runner(tmp_path: Path):
    context = tmp_path / "sh"
    context.mkdir()
    (context / "Dockerfile").write_text('FROM busybox\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n')
    (tmp_path / "images.yaml").write_text("'knit-hk/sh:1.0': sh\n")
    return make_runner("process", image_map=ImageMap.load([tmp_path / "images.yaml"]))


@pytest.fixture
def receiver():
    with HookReceiver() as server:
        yield server


def hooks_for(receiver: HookReceiver, **options) -> HookSettings:
    source = f"lifecycle-hooks: {{before: ['{receiver.url('/b')}'], after: ['{receiver.url('/a')}']}}\n"
    return HookSettings(source=source, timeout_s=2.0, max_backoff_s=0.2, **options)


def one_run(knit, make_dir, script: str = "true") -> str:
    plan_id = plans.apply(knit, PLAN.format(script=script))["planId"]
    data.push_dir(knit, make_dir(files={"a.txt": "payload"}), ["hk:in"])
    (run,) = runs.find(knit, plan_ids=[plan_id])
    return run["runId"]


def run_through(knit, runner, run_id: str, hooks: HookSettings) -> execution.Ending:
    """What a Run's task does: the attempt (with its hooks), the program, and the hand-over at the end."""
    assignment = execution.start_attempt(knit, run_id, hooks=hooks)
    assert isinstance(assignment, execution.Assignment)
    ending = execution.run_program(knit, assignment, runner, heartbeat_timeout_s=30)
    after_run(knit, hooks, run_id)
    return ending


def test_a_run_calls_before_and_after_hooks_with_knitfabs_payload_in_order(knit, make_dir, runner, receiver) -> None:
    run_id = one_run(knit, make_dir)
    ending = run_through(knit, runner, run_id, hooks_for(receiver))
    assert ending.status.value == "done"
    before, after = receiver.received("/b"), receiver.received("/a")
    assert [b["status"] for b in before] == ["waiting", "ready", "starting", "running", "completing"]
    assert [a["status"] for a in after] == ["ready", "starting", "running", "completing", "done"]
    for payload in before + after:
        assert list(payload)[: len(KNITFAB_KEYS)] == KNITFAB_KEYS or "exit" in payload, "knit run show's JSON"
        assert payload["runId"] == run_id and payload["plan"]["image"] == "knit-hk/sh:1.0"
    assert after[-1]["exit"] == {"code": 0, "message": ""} and "exit" not in before[0]
    assert deliveries(knit) == [], "nothing pending or failed"


def test_the_before_starting_answer_gives_the_program_environment(knit, make_dir, runner, receiver) -> None:
    env = {"GREETING": "hello from the hook", "KNIT_RUN_ID": "spoofed", "bad name": "x"}
    receiver.answer("/b", 200, {"knitfabExtension": {"env": env}})
    run_id = one_run(knit, make_dir, 'echo "$GREETING/$KNIT_RUN_ID" > /out/y/env.txt')
    assert run_through(knit, runner, run_id, hooks_for(receiver)).status.value == "done"
    output = runs.show(knit, run_id)["outputs"][0]["knitId"]
    assert (knit.store.path(output) / "env.txt").read_text() == f"hello from the hook/{run_id}\n"


def test_a_receiver_that_is_down_never_holds_the_run_and_gets_every_call_in_order_later(
    knit, make_dir, runner, receiver
) -> None:
    receiver.down()
    hooks = hooks_for(receiver)
    run_id = one_run(knit, make_dir)
    assert run_through(knit, runner, run_id, hooks).status.value == "done", "the hooks never held the Run"
    pending = deliveries(knit)
    assert {d["state"] for d in pending} == {"pending"} and len(pending) == 10
    assert all(d["lastError"] for d in pending if d["tries"]) and pending[0]["transition"] == "waiting -> ready"
    receiver.up()
    deadline = time.monotonic() + 30
    while deliveries(knit) and time.monotonic() < deadline:
        deliver_due(knit, hooks)
        time.sleep(0.1)
    assert deliveries(knit) == []
    assert [b["status"] for b in receiver.received("/b")] == ["waiting", "ready", "starting", "running", "completing"]
    assert [a["status"] for a in receiver.received("/a")] == ["ready", "starting", "running", "completing", "done"]


def test_a_call_failing_past_its_expiry_is_given_up_and_listed(knit, make_dir, receiver) -> None:
    receiver.answer("/a", 503, {"error": "busy"})
    hooks = hooks_for(receiver, expire_s=0.5)
    run_id = one_run(knit, make_dir)
    runs.stop(knit, run_id, fail=True)  # waiting -> aborting -> failed: two hooked changes
    consume_events(knit, hooks)
    deliver_due(knit, hooks)
    time.sleep(0.6)
    deliver_due(knit, hooks)
    time.sleep(0.3)
    deliver_due(knit, hooks)
    failed = deliveries(knit)
    assert [(d["transition"], d["phase"], d["state"]) for d in failed] == [
        ("waiting -> aborting", "after", "failed"),
        ("aborting -> failed", "after", "failed"),
    ]
    assert "HTTP 503" in failed[0]["lastError"] and failed[0]["url"].endswith("/a")
    assert [b["status"] for b in receiver.received("/b")] == ["waiting", "aborting"], "the other URL went on"


def test_status_changes_reach_a_publisher_once_each_in_order(knit, make_dir) -> None:
    seen = []
    run_id = one_run(knit, make_dir)
    runs.stop(knit, run_id, fail=True)
    assert consume_events(knit, HookSettings(), publish=lambda e: seen.append((e.from_status, e.to_status))) == 2
    assert seen == [("waiting", "aborting"), ("aborting", "failed")]
    assert consume_events(knit, HookSettings(), publish=lambda e: seen.append(e)) == 0, "consumed once"


def test_urls_with_credentials_are_masked_in_listings(knit, make_dir) -> None:
    hooks = HookSettings(
        source="lifecycle-hooks: {after: ['http://user:secret@127.0.0.1:9/h?token=abc']}", timeout_s=0.5
    )
    run_id = one_run(knit, make_dir)
    runs.stop(knit, run_id, fail=True)
    consume_events(knit, hooks)
    deliver_due(knit, hooks)
    listed = deliveries(knit)
    assert listed and all("secret" not in str(d) and "abc" not in str(d) for d in listed)


def test_a_hooks_file_that_does_not_exist_yet_wakes_nobody_until_it_is_written(
    knit, make_dir, receiver, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(lifecycle_hooks, "EVENT_GRACE_S", 0.0)
    hooks_file = tmp_path / "hooks.yaml"
    hooks = HookSettings(source=str(hooks_file), timeout_s=2.0, max_backoff_s=0.2)
    run_id = one_run(knit, make_dir)
    runs.stop(knit, run_id, fail=True)  # two changes wait in the journal
    time.sleep(0.01)
    assert hooks.configured and not hooks.active()
    assert hook_work(knit, hooks) == 0, "no hook to call: the generator is not woken for the journal"
    hooks_file.write_text(f"lifecycle-hooks: {{after: ['{receiver.url('/a')}']}}\n")
    assert hooks.active()
    assert hook_work(knit, hooks) == 2, "once written, the waiting changes are work"
