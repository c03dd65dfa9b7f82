"""A Run whose whole executor worker is killed (the LocalExecutor worker and its task, as a machine crash would)
ends failed as soon as its heartbeat stops, instead of staying ``running`` until Airflow's own task heartbeat
timeout (about 5 minutes) fails the DagRun."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.service import data, runs

from .conftest import runs_of, sh_plan

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.reliability]
#: The heartbeat timeout (30 s by default) plus a reconcile interval and room for a loaded machine: far less than
#: the five minutes Airflow takes to notice.
NOTICED_WITHIN_S = 120


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_killed_worker_fails_its_run_within_the_heartbeat_timeout(airflow, knit, apply_plan, tmp_path) -> None:
    plan_id = apply_plan(sh_plan("e2e:crash", "e2e:crash-out", "sleep 600; cp /in/x/a.txt /out/y/a.txt"))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("payload")
    data.push_dir(knit, tmp_path / "src", ["e2e:crash"])
    (run,) = wait_until(lambda: runs_of(knit, plan_id), timeout=30, what="the Run exists")
    run_id = run["runId"]
    wait_until(lambda: runs.show(knit, run_id)["status"] == "running", timeout=120, what="the Run is running")
    dag_id = plan_dag_id("knit-e2e/sh:1.0", plan_id)

    def task_pid() -> int | None:
        ti = airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{dagrun_id(run_id)}/taskInstances/run")
        return ti.get("pid") if ti.get("state") == "running" else None

    task = wait_until(task_pid, timeout=60, what="the task's pid")
    worker = parent_of(task)
    assert "worker" in Path(f"/proc/{worker}/cmdline").read_bytes().decode(errors="replace")
    for pid in (worker, task):  # the worker and its task, at once: nobody is left to report anything
        os.kill(pid, signal.SIGKILL)
    failed = wait_until(
        lambda: (r := runs.show(knit, run_id))["status"] == "failed" and r,
        timeout=NOTICED_WITHIN_S,
        what="the Run failed by reconciliation",
    )
    assert failed["exit"]["code"] == 255
    assert "no heartbeat" in failed["exit"]["message"], failed["exit"]["message"]
    assert "knit#transient:failed" in data.show(knit, failed["outputs"][0]["knitId"])["tags"]
