"""A push that names the Airflow starts its Runs' DagRuns itself (REST API); unreachable, it leaves them to the
generator and nothing is lost. Real airflow standalone, the real ``knit`` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from knit_dev.standalone import Standalone
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.service import Knit

from .conftest import runs_of, sh_plan

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def knit_cli(airflow: Standalone, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "KNIT_HOME": str(airflow.knit_home), **env}
    full_env.pop("KNIT_CATALOG_URL", None)
    return subprocess.run(
        [str(Path(sys.executable).with_name("knit")), *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_push_starts_the_run_through_airflows_api(airflow: Standalone, knit: Knit, apply_plan, tmp_path) -> None:
    plan_id = apply_plan(sh_plan("push:raw", "push:out", "cp /in/x/* /out/y/"))
    source = tmp_path / "payload"
    source.mkdir()
    (source / "a.txt").write_text("pushed\n")
    pushed = knit_cli(
        airflow, tmp_path, "data", "push", "-t", "push:raw", str(source),
        KNIT_AIRFLOW_URL=airflow.url, KNIT_AIRFLOW_USERNAME="admin", KNIT_AIRFLOW_PASSWORD=airflow.password(),
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert "left to Airflow's generator" not in pushed.stderr
    (run,) = runs_of(knit, plan_id)
    assert run["status"] != "waiting", "the push itself moved the Run on: its DagRun exists"
    dag_run = airflow.api(
        "GET", f"/api/v2/dags/{plan_dag_id(run['plan']['image'], plan_id)}/dagRuns/{dagrun_id(run['runId'])}"
    )
    assert dag_run["triggered_by"] == "rest_api", "created by the push, not by the generator's task"
    assert dag_run["conf"]["knit_run_id"] == run["runId"] and run["runId"] in dag_run["note"]
    wait_until(lambda: runs_of(knit, plan_id)[0]["status"] == "done", 120, "the pushed Run done")


def test_an_unreachable_airflow_leaves_the_run_to_the_generator(
    airflow: Standalone, knit: Knit, apply_plan, tmp_path
) -> None:
    plan_id = apply_plan(sh_plan("lost:raw", "lost:out", "cp /in/x/* /out/y/"))
    source = tmp_path / "payload"
    source.mkdir()
    (source / "a.txt").write_text("pushed\n")
    pushed = knit_cli(airflow, tmp_path, "data", "push", "-t", "lost:raw", str(source),
                      KNIT_AIRFLOW_URL="http://127.0.0.1:9", KNIT_AIRFLOW_TOKEN="unused")  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    assert "1 Run(s) left to Airflow's generator" in pushed.stderr and "not reached" in pushed.stderr
    run = wait_until(lambda: [r for r in runs_of(knit, plan_id) if r["status"] == "done"], 120, "Run done")[0]
    dag_run = airflow.api(
        "GET", f"/api/v2/dags/{plan_dag_id(run['plan']['image'], plan_id)}/dagRuns/{dagrun_id(run['runId'])}"
    )
    assert dag_run["triggered_by"] == "operator", "the generator's task started it"


def test_an_upload_through_the_rest_api_starts_the_run_as_the_caller(
    airflow: Standalone, knit: Knit, apply_plan, tmp_path
) -> None:
    from knit_provider.remote import KnitClient

    plan_id = apply_plan(sh_plan("rest:raw", "rest:out", "cp /in/x/* /out/y/"))
    source = tmp_path / "payload"
    source.mkdir()
    (source / "a.txt").write_text("uploaded\n")
    with KnitClient(airflow.url, username="admin", password=airflow.password()) as client:
        client.data.push_dir(source, ["rest:raw"])
    run = wait_until(lambda: [r for r in runs_of(knit, plan_id) if r["status"] != "waiting"], 60, "Run started")[0]
    dag_id = plan_dag_id(run["plan"]["image"], plan_id)
    dag_run = airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{dagrun_id(run['runId'])}")
    assert dag_run["triggered_by"] == "rest_api", "the api-server started it right after the upload"
    wait_until(lambda: runs_of(knit, plan_id)[0]["status"] == "done", 120, "the uploaded Data's Run done")
