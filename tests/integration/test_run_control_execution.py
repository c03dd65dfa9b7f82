"""Run control on a real catalog and the real process runner (beyond Knitfab): a Plan's timeout ends an attempt
"timed out" and kills its program; a failed attempt with retries left is kept, its outputs discarded, and the Run
waits for its next attempt (never ``failed`` in between); a user's stop is never retried; a Run whose attempt
outlived its timeout with nobody ending it is failed by reconciliation."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from knit_provider.core.airflow_names import Dispatch
from knit_provider.runners import ImageMap, make_runner
from knit_provider.service import data, execution, plans, reconciliation, runs
from knit_provider.service.reconciliation import one_by_one

pytestmark = pytest.mark.run_control
PLAN = (
    "image: knit-rc/sh:1.0\nargs: ['{script}']\n"
    "inputs: [{{path: /in/x, tags: ['rc:in']}}]\noutputs: [{{path: /out/y, tags: ['rc:out']}}]\n"
    "log: {{tags: ['rc:log']}}\n{extra}"
)
NEXT = "image: r/next:v1\ninputs: [{path: /in, tags: ['rc:out']}]\noutputs: [{path: /out, tags: ['rc:end']}]\n"


@pytest.fixture
def runner(tmp_path: Path):
    context = tmp_path / "sh"
    context.mkdir()
    (context / "Dockerfile").write_text('FROM busybox\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n')
    (tmp_path / "images.yaml").write_text("'knit-rc/sh:1.0': sh\n")
    return make_runner("process", image_map=ImageMap.load([tmp_path / "images.yaml"]))


def one_run(knit, make_dir, script: str, extra: str = "") -> str:
    plan_id = plans.apply(knit, PLAN.format(script=script, extra=extra))["planId"]
    data.push_dir(knit, make_dir(files={"a.txt": "payload"}), ["rc:in"])
    (run,) = runs.find(knit, plan_ids=[plan_id])
    return run["runId"]


def attempt(knit, runner, run_id: str, *, retries_left: int = 0) -> execution.Ending:
    assignment = execution.start_attempt(knit, run_id)
    assert isinstance(assignment, execution.Assignment)
    return execution.run_program(knit, assignment, runner, heartbeat_timeout_s=30, retries_left=retries_left)


def test_a_plans_timeout_ends_the_attempt_and_kills_its_program(knit, make_dir, runner, monkeypatch) -> None:
    monkeypatch.setattr(execution, "STOP_POLL_S", 0.1)
    run_id = one_run(knit, make_dir, "echo started; sleep 61.5", "timeout: 2s\n")
    assert runs.show(knit, run_id)["plan"]["planId"]
    ending = attempt(knit, runner, run_id)
    assert ending.status.value == "failed" and ending.exit_code == 124
    assert ending.message == "timed out after 2s"
    shown = runs.show(knit, run_id)
    assert shown["exit"] == {"code": 124, "message": "timed out after 2s"}
    left = subprocess.run(["pgrep", "-f", "sleep 61.5"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "the program and its children are gone"
    assert "knit#transient:failed" in data.show(knit, shown["outputs"][0]["knitId"])["tags"]


def test_a_failed_attempt_with_retries_left_waits_for_the_next_with_fresh_outputs(knit, make_dir, runner) -> None:
    script = 'echo "$KNIT_ATTEMPT" > /out/y/attempt-$KNIT_ATTEMPT.txt; [ "$KNIT_ATTEMPT" -ge 3 ] || exit 7'
    run_id = one_run(knit, make_dir, script, "retries: {count: 2, delay: 1s}\n")
    plans.apply(knit, NEXT)
    seen_outputs = []
    for number, left in ((1, 2), (2, 1)):
        seen_outputs.append(runs.show(knit, run_id)["outputs"][0]["knitId"])  # what this attempt writes
        ending = attempt(knit, runner, run_id, retries_left=left)
        assert ending.retrying and ending.exit_code == 7, f"attempt {number} is retried, not failed"
        shown = runs.show(knit, run_id)
        assert shown["status"] == "ready" and shown["attempt"] == number + 1
        assert runs.find(knit, statuses=["failed"]) == []
    ending = attempt(knit, runner, run_id, retries_left=0)
    assert ending.status.value == "done" and len(ending.created_runs) == 1, "downstream starts once, at the end"
    shown = runs.show(knit, run_id)
    assert shown["attempt"] == 3
    assert [(a["attempt"], a["exit"]["code"]) for a in shown["attempts"]] == [(1, 7), (2, 7), (3, 0)]
    final = shown["outputs"][0]["knitId"]
    assert final not in seen_outputs and len(set(seen_outputs)) == 2, "each attempt wrote fresh outputs"
    assert sorted(p.name for p in knit.store.path(final).iterdir()) == ["attempt-3.txt"]
    for discarded in seen_outputs:
        assert data.find(knit, [f"knit#id:{discarded}"]) == [] and not knit.store.exists(discarded)


def test_the_last_attempt_fails_the_run(knit, make_dir, runner) -> None:
    run_id = one_run(knit, make_dir, "exit 3", "retries: 1\n")
    assert attempt(knit, runner, run_id, retries_left=1).retrying
    ending = attempt(knit, runner, run_id, retries_left=0)
    assert ending.status.value == "failed" and ending.exit_code == 3
    assert [a["exit"]["code"] for a in runs.show(knit, run_id)["attempts"]] == [3, 3]


def test_a_users_stop_is_never_retried(knit, make_dir) -> None:
    run_id = one_run(knit, make_dir, "sleep 1", "retries: 3\n")
    execution.start_attempt(knit, run_id)
    execution.started(knit, run_id)
    runs.stop(knit, run_id, fail=True)
    ending = execution.conclude(knit, run_id, exit_code=137, message="killed", retries_left=3)
    assert ending.status.value == "failed" and ending.exit_code == 253 and ending.message == "aborted by user"


def test_a_timed_out_attempt_is_retried_when_retries_are_left(knit, make_dir) -> None:
    run_id = one_run(knit, make_dir, "sleep 1", "timeout: 1s\nretries: 1\n")
    execution.start_attempt(knit, run_id)
    execution.started(knit, run_id)
    assert execution.time_out(knit, run_id, 1.0)
    ending = execution.conclude(knit, run_id, exit_code=137, message="killed", retries_left=1)
    assert ending.retrying and ending.exit_code == 124 and ending.message == "timed out after 1s"


def test_reconciliation_fails_an_attempt_that_outlived_its_timeout(knit, make_dir) -> None:
    run_id = one_run(knit, make_dir, "sleep 1", "timeout: 1s\n")
    execution.start_attempt(knit, run_id)
    execution.started(knit, run_id)
    asked: list[str] = []

    def running(dispatch: Dispatch) -> str:
        asked.append(dispatch.run_id)
        return "running"

    assert reconciliation.reconcile(knit, one_by_one(running), heartbeat_timeout_s=60, grace_s=1.0) == []
    time.sleep(2.2)
    (ended,) = reconciliation.reconcile(knit, one_by_one(running), heartbeat_timeout_s=60, grace_s=1.0)
    shown = runs.show(knit, run_id)
    assert ended[0] == run_id and shown["status"] == "failed" and shown["exit"]["code"] == 124
    assert "timed out after 1s" in shown["exit"]["message"] and "did not end it" in shown["exit"]["message"]


def test_timeout_and_retries_are_set_and_unset_on_a_plan(knit) -> None:
    plan_id = plans.apply(knit, PLAN.format(script="true", extra=""))["planId"]
    assert "timeout" not in plans.show(knit, plan_id)
    assert plans.set_timeout(knit, plan_id, "90m")["timeout"] == "1h30m"
    shown = plans.set_retries(knit, plan_id, 2, delay="10s")
    assert shown["retries"] == {"count": 2, "delay": "10s"} and shown["timeout"] == "1h30m"
    assert "timeout" not in plans.set_timeout(knit, plan_id, None)
    assert "retries" not in plans.set_retries(knit, plan_id, None)
    with pytest.raises(Exception, match="timeout"):
        plans.set_timeout(knit, plan_id, "-5s")
