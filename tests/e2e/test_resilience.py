"""Nothing lost, nothing stuck: a burst of pushes, and a task killed with SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.service import data, runs

from .conftest import runs_of, sh_plan

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_burst_of_50_pushes_within_a_second_runs_every_expected_run(airflow, knit, apply_plan, tmp_path) -> None:
    plan_id = apply_plan(sh_plan("e2e:burst", "e2e:burst-out", "cp /in/x/n.txt /out/y/n.txt"))
    sources = []
    for n in range(50):
        folder = tmp_path / f"burst-{n}"
        folder.mkdir()
        (folder / "n.txt").write_text(str(n))
        sources.append(folder)
    with ThreadPoolExecutor(max_workers=8) as pool:  # a burst: 8 writers at once
        pushed = list(pool.map(lambda f: data.push_dir(knit, f, ["e2e:burst"])["knitId"], sources))
    assert len(set(pushed)) == 50

    def all_done() -> bool:
        found = runs_of(knit, plan_id)
        return len(found) == 50 and all(r["status"] in ("done", "failed") for r in found)

    wait_until(all_done, timeout=600, what="50 Runs finished")
    found = runs_of(knit, plan_id)
    assert sorted(r["inputs"][0]["knitId"] for r in found) == sorted(pushed), "one Run per pushed Data, never twice"
    assert {r["status"] for r in found} == {"done"}
    for run in found:
        n = (knit.store.path(run["inputs"][0]["knitId"]) / "n.txt").read_text()
        assert (knit.store.path(run["outputs"][0]["knitId"]) / "n.txt").read_text() == n
    dag_id = plan_dag_id("knit-e2e/sh:1.0", plan_id)

    def dagruns_succeeded() -> bool:  # Airflow closes a DagRun a few scheduler loops after its task ends
        states = {r["dag_run_id"]: r["state"] for r in airflow.dag_runs(dag_id)}
        return all(states.get(dagrun_id(r["runId"])) == "success" for r in found)

    wait_until(dagruns_succeeded, timeout=90, what="each Run is its own successful DagRun")


def _task_pid(airflow, dag_id: str, run_id: str) -> int | None:
    ti = airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/run")
    return ti.get("pid") if ti.get("state") == "running" else None


def _knit(airflow, *args: str) -> subprocess.CompletedProcess:
    knit_cli = str(Path(sys.executable).parent / "knit")
    return subprocess.run([knit_cli, *args], env=airflow.env(), capture_output=True, text=True)


def test_a_task_killed_mid_run_ends_failed_nothing_downstream_fires_and_retry_runs_it(
    airflow, knit, apply_plan, tmp_path
) -> None:
    slow = apply_plan(sh_plan("e2e:slow", "e2e:slow-out", "sleep 12; cp /in/x/a.txt /out/y/a.txt"))
    after = apply_plan(sh_plan("e2e:slow-out", "e2e:after-out", "cp /in/x/a.txt /out/y/a.txt"))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("payload")
    data.push_dir(knit, tmp_path / "src", ["e2e:slow"])
    (run,) = wait_until(lambda: runs_of(knit, slow), timeout=30, what="the Run exists")
    run_id = run["runId"]
    wait_until(lambda: runs.show(knit, run_id)["status"] == "running", timeout=90, what="the Run is running")
    dag_id = plan_dag_id("knit-e2e/sh:1.0", slow)
    pid = wait_until(lambda: _task_pid(airflow, dag_id, dagrun_id(run_id)), timeout=30, what="the task's pid")
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    wait_until(lambda: runs.show(knit, run_id)["status"] == "failed", timeout=60, what="the killed Run fails")
    reconcile_interval = 5  # the standalone fixture's [knit] reconcile_interval
    took = time.monotonic() - killed_at
    assert took < reconcile_interval + 20, f"failed {took:.1f}s after the kill"
    failed = runs.show(knit, run_id)
    assert "reconciliation" in failed["exit"]["message"]
    assert f"DagRun {dag_id}/{dagrun_id(run_id)} ended failed" in failed["exit"]["message"], "told by Airflow's state"
    assert "knit#transient:failed" in data.show(knit, failed["outputs"][0]["knitId"])["tags"]
    time.sleep(3)
    assert runs_of(knit, after) == [], "nothing downstream fires from a failed Run"

    retried = _knit(airflow, "run", "retry", run_id)
    assert retried.returncode == 0, retried.stderr
    wait_until(lambda: runs.show(knit, run_id)["status"] == "done", timeout=120, what="the retried Run is done")
    done = runs.show(knit, run_id)
    assert (knit.store.path(done["outputs"][0]["knitId"]) / "a.txt").read_text() == "payload"
    (downstream,) = wait_until(lambda: runs_of(knit, after), timeout=30, what="the downstream Run")
    wait_until(lambda: runs.show(knit, downstream["runId"])["status"] == "done", timeout=90, what="downstream done")
