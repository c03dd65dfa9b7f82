"""How Knit shows up in Airflow: one DagRun per Run, Plan DAGs never paused (an inactive Plan's Runs wait in the
catalog), a forced generator pass, and the ``/knit`` API behind Airflow's auth."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.service import data, plans, runs

from .conftest import runs_of, sh_plan

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
IMAGE = "knit-e2e/sh:1.0"


def test_each_run_is_a_dagrun_of_its_plans_dag_carrying_and_linking_its_id(airflow, knit, apply_plan, tmp_path):
    plan_id = apply_plan(sh_plan("e2e:map", "e2e:map-out", "echo hello from the run; cp -r /in/x/. /out/y/"))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "f.txt").write_text("x")
    data.push_dir(knit, tmp_path / "in", ["e2e:map"])
    (run,) = wait_until(lambda: runs_of(knit, plan_id), timeout=30, what="the Run")
    wait_until(lambda: runs.show(knit, run["runId"])["status"] == "done", timeout=90, what="the Run is done")
    dag_id = plan_dag_id(IMAGE, plan_id)
    dag_run = airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{dagrun_id(run['runId'])}")
    assert dag_run["conf"]["knit_run_id"] == run["runId"]
    assert run["runId"] in dag_run["note"] and f"/knit/runs/{run['runId']}" in dag_run["note"]
    dag = airflow.api("GET", f"/api/v2/dags/{dag_id}")
    assert not dag["is_paused"] and "knit" in [t["name"] for t in dag["tags"]]
    log = (knit.store.path(runs.show(knit, run["runId"])["log"]["knitId"]) / "log").read_text()
    assert "hello from the run" in log

    # the link back: the Knit API answers for the Run and for the DagRun carrying it, behind Airflow's auth
    shown = airflow.api("GET", f"/knit/api/runs/{dagrun_id(run['runId'])}")
    assert shown["runId"] == run["runId"] and shown["status"] == "done"
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{airflow.url}/knit/api/runs/{run['runId']}", timeout=10)
    assert anonymous.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as missing:
        airflow.api("GET", "/knit/api/runs/no-such-run")
    assert missing.value.code == 404


def test_an_inactive_plans_runs_wait_deactivated_and_run_once_it_is_activated(airflow, knit, tmp_path):
    plan = plans.apply(knit, sh_plan("e2e:off", "e2e:off-out", "true").replace("log:", "active: false\nlog:"))
    dag_id = plan_dag_id(IMAGE, plan["planId"])
    airflow.wait_for_dags([dag_id], timeout=120)
    assert not airflow.api("GET", f"/api/v2/dags/{dag_id}")["is_paused"], "a paused DAG would stay paused"
    (tmp_path / "in").mkdir()
    data.push_dir(knit, tmp_path / "in", ["e2e:off"])
    (run,) = runs_of(knit, plan["planId"])
    assert run["status"] == "deactivated"
    assert airflow.dag_runs(dag_id) == []
    plans.set_active(knit, plan["planId"], True)  # activated later: the Run runs
    wait_until(
        lambda: runs.show(knit, run["runId"])["status"] == "done", timeout=180, what="the Run of the activated Plan"
    )


def test_triggering_the_generator_forces_a_pass(airflow):
    before = {r["dag_run_id"] for r in airflow.dag_runs("knit_generator")}
    forced = airflow.api("POST", "/api/v2/dags/knit_generator/dagRuns", {"logical_date": None})
    assert forced["dag_run_id"] not in before

    def forced_pass_done() -> bool:
        state = airflow.api("GET", f"/api/v2/dags/knit_generator/dagRuns/{forced['dag_run_id']}")["state"]
        return state == "success"

    wait_until(forced_pass_done, timeout=90, what="the forced generator pass succeeded")
