"""Run control on a real ``airflow standalone`` (beyond Knitfab): a Plan's retries are its task's Airflow retries
(each attempt a try of the one task), with one set of outputs at the end; a Plan's timeout ends an attempt that
runs too long, and its program is gone; a user's ``knit run stop --fail`` is never retried."""

from __future__ import annotations

import subprocess

import pytest
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.service import data, runs

from .conftest import runs_of, sh_plan

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.run_control]


def push_and_await_the_run(knit, tmp_path, tag: str, plan_id: str) -> dict:
    """Push one small Data tagged ``tag``; the Run of ``plan_id`` it starts."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("payload")
    data.push_dir(knit, tmp_path / "src", [tag])
    (run,) = wait_until(lambda: runs_of(knit, plan_id), timeout=30, what="the Run exists")
    return run


def ended_task_instance(airflow, plan_id: str, run_id: str) -> dict:
    """The Run's task instance once Airflow has recorded its end: the catalog ends the Run inside the task, and
    Airflow records the task's end just after it returns."""
    dag_id = plan_dag_id("knit-e2e/sh:1.0", plan_id)
    ti_url = f"/api/v2/dags/{dag_id}/dagRuns/{dagrun_id(run_id)}/taskInstances/run"
    return wait_until(
        lambda: (t := airflow.api("GET", ti_url))["state"] not in ("running", "queued", None) and t,
        timeout=60,
        what="the task instance ended",
    )


def test_a_program_that_fails_twice_ends_done_after_three_attempts(airflow, knit, apply_plan, tmp_path) -> None:
    script = 'echo "$KNIT_ATTEMPT" > /out/y/attempt-$KNIT_ATTEMPT.txt; [ "$KNIT_ATTEMPT" -ge 3 ] || exit 9'
    plan_id = apply_plan(sh_plan("rc:flaky", "rc:flaky-out", script) + "retries: {count: 2, delay: 1s}\n")
    run = push_and_await_the_run(knit, tmp_path, "rc:flaky", plan_id)
    seen = set()

    def finished() -> bool:
        status = runs.show(knit, run["runId"])["status"]
        seen.add(status)
        return status in ("done", "failed")

    wait_until(finished, timeout=300, what="the Run finished")
    shown = runs.show(knit, run["runId"])
    assert shown["status"] == "done" and "failed" not in seen, "never failed in between"
    assert shown["attempt"] == 3 and [a["exit"]["code"] for a in shown["attempts"]] == [9, 9, 0]
    (output,) = shown["outputs"]
    assert sorted(p.name for p in knit.store.path(output["knitId"]).iterdir()) == ["attempt-3.txt"]
    ti = ended_task_instance(airflow, plan_id, run["runId"])
    assert ti["try_number"] == 3 and ti["state"] == "success", "each attempt was a try of the task"


def test_a_run_past_its_timeout_ends_failed_and_its_program_is_gone(airflow, knit, apply_plan, tmp_path) -> None:
    plan_id = apply_plan(sh_plan("rc:slow", "rc:slow-out", "sleep 62.5") + "timeout: 3s\n")
    run = push_and_await_the_run(knit, tmp_path, "rc:slow", plan_id)
    failed = wait_until(
        lambda: (r := runs.show(knit, run["runId"]))["status"] == "failed" and r, timeout=120, what="timed out"
    )
    assert failed["exit"] == {"code": 124, "message": "timed out after 3s"}
    left = subprocess.run(["pgrep", "-f", "sleep 62.5"], capture_output=True, text=True)
    assert left.stdout.strip() == "", "the program is gone"


def test_a_run_stopped_with_fail_while_retries_are_left_stays_failed(airflow, knit, apply_plan, tmp_path) -> None:
    plan_id = apply_plan(sh_plan("rc:stopped", "rc:stopped-out", "sleep 61.5") + "retries: {count: 2, delay: 1s}\n")
    run = push_and_await_the_run(knit, tmp_path, "rc:stopped", plan_id)
    wait_until(lambda: runs.show(knit, run["runId"])["status"] == "running", timeout=120, what="the program runs")
    runs.stop(knit, run["runId"], fail=True)
    ti = ended_task_instance(airflow, plan_id, run["runId"])
    assert (ti["state"], ti["try_number"]) == ("failed", 1), "the user's stop is not retried by Airflow"
    shown = runs.show(knit, run["runId"])
    assert (shown["status"], shown["attempt"], shown["exit"]["code"]) == ("failed", 1, 253)
