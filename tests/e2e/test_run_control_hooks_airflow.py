"""Run control on a real ``airflow standalone`` (beyond Knitfab): Knitfab's lifecycle hooks against a small HTTP
server on loopback (its "before starting" answer giving the program environment; down for a while, and Airflow
restarted meanwhile: every call arrives once it is back, in order), a Plan's notifiers as its DAG's callbacks,
and ``knit admin doctor`` finding and fixing a Run nobody runs and a DagRun without a Run."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from knit_dev.hook_receiver import HookReceiver
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.remote import KnitClient
from knit_provider.service import data, execution, runs

from .conftest import runs_of, sh_plan

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.run_control]
IMAGE = "knit-e2e/sh:1.0"
BEFORE = ["waiting", "ready", "starting", "running", "completing"]  # the Run in each "before" call
AFTER = ["ready", "starting", "running", "completing", "done"]  # ... and in each "after" call


def push(knit, root: Path, tags: list[str], text: str = "payload") -> None:
    root.mkdir(parents=True)
    (root / "a.txt").write_text(text)
    data.push_dir(knit, root, tags)


def ended(knit, run_id: str, timeout: float = 180) -> dict:
    return wait_until(
        lambda: (r := runs.show(knit, run_id))["status"] in ("done", "failed") and r, timeout, f"Run {run_id} ends"
    )


def calls_of(receiver: HookReceiver, path: str, run_id: str) -> list[str]:
    return [body["status"] for body in receiver.received(path) if body and body.get("runId") == run_id]


def test_hooks_are_called_in_order_and_survive_a_receiver_down_and_an_airflow_restart(
    airflow, knit, apply_plan, tmp_path
) -> None:
    with HookReceiver() as receiver:
        receiver.answer("/b", 200, {"knitfabExtension": {"env": {"HOOK_GREETING": "hello from the hook"}}})
        Path(airflow.knit_options["hooks"]).write_text(
            f"lifecycle-hooks:\n  before: ['{receiver.url('/b')}']\n  after: ['{receiver.url('/a')}']\n"
        )
        plan_id = apply_plan(sh_plan("hk:in", "hk:out", 'echo "$HOOK_GREETING" > /out/y/greeting.txt'))
        push(knit, tmp_path / "first", ["hk:in"])
        (first,) = wait_until(lambda: runs_of(knit, plan_id), 30, "the first Run exists")
        shown = ended(knit, first["runId"])
        assert shown["status"] == "done", shown
        greeting = knit.store.path(shown["outputs"][0]["knitId"]) / "greeting.txt"
        assert greeting.read_text() == "hello from the hook\n", "the before-starting answer's environment"
        wait_until(lambda: calls_of(receiver, "/a", first["runId"]) == AFTER, 60, "the first Run's after calls")
        assert calls_of(receiver, "/b", first["runId"]) == BEFORE
        assert receiver.received("/a")[-1]["plan"]["image"] == IMAGE, "Knitfab's Run JSON"

        receiver.down()
        push(knit, tmp_path / "second", ["hk:in"])
        second = wait_until(lambda: [r for r in runs_of(knit, plan_id) if r["runId"] != first["runId"]], 30, "2nd")
        second_id = second[0]["runId"]
        assert ended(knit, second_id)["status"] == "done", "a receiver that is down never holds a Run"
        assert runs.show(knit, second_id)["outputs"], "and it ran without the hook's environment"

        airflow.stop()
        airflow.start()
        receiver.up()
        wait_until(lambda: calls_of(receiver, "/a", second_id) == AFTER, 120, "the second Run's after calls")
        assert calls_of(receiver, "/b", second_id) == BEFORE, "each call once it is back, in order"
        client = KnitClient(airflow.url, token=airflow.token())
        wait_until(lambda: client.admin.hooks(run_id=second_id) == [], 30, "nothing left pending")
    Path(airflow.knit_options["hooks"]).unlink()


def test_a_plans_notifiers_are_called_for_its_failed_and_done_runs(airflow, knit, apply_plan, tmp_path) -> None:
    notes = (
        "annotations: ['knit.notify.on_failure=knit_test_notifiers.RecordingNotifier',"
        " 'knit.notify.on_success=knit_test_notifiers.SuccessNotifier']\n"
    )
    plan_id = apply_plan(sh_plan("nt:in", "nt:out", '[ "$(cat /in/x/a.txt)" = ok ] || exit 3') + notes)
    push(knit, tmp_path / "good", ["nt:in"], "ok")
    push(knit, tmp_path / "bad", ["nt:in"], "bad")
    outcome = {}
    for run in wait_until(lambda: len(found := runs_of(knit, plan_id)) == 2 and found, 30, "two Runs"):
        outcome[ended(knit, run["runId"])["status"]] = dagrun_id(run["runId"])
    notified = Path(airflow.extra_env["KNIT_TEST_NOTIFY_FILE"])

    def lines() -> dict[str, str]:
        text = notified.read_text() if notified.exists() else ""
        return {(line := json.loads(t))["run_id"]: line["notifier"] for t in text.splitlines()}

    wait_until(lambda: set(outcome.values()) <= set(lines()), 120, "both DagRuns' callbacks")
    assert lines()[outcome["failed"]] == "RecordingNotifier" and lines()[outcome["done"]] == "SuccessNotifier"


def test_the_doctor_finds_and_fixes_a_run_nobody_runs_and_a_dagrun_without_a_run(
    airflow, knit, apply_plan, tmp_path
) -> None:
    plan_id = apply_plan(sh_plan("dr:in", "dr:out", "true"))
    dag_id = plan_dag_id(IMAGE, plan_id)
    generator = "/api/v2/dags/knit_generator"
    airflow.api("PATCH", generator, {"is_paused": True})  # nobody else concludes what the doctor must find
    for run in airflow.dag_runs("knit_generator"):
        if run["state"] in ("queued", "running"):
            airflow.api("PATCH", f"{generator}/dagRuns/{run['dag_run_id']}", {"state": "failed"})
    airflow.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": True})
    try:
        push(knit, tmp_path / "in", ["dr:in"])
        (run,) = runs_of(knit, plan_id)  # waiting: the generator is paused and this push starts nothing
        execution.start_attempt(knit, run["runId"])
        execution.started(knit, run["runId"])  # running, as a worker would say, but no DagRun carries it
        stray = f"knit__{uuid.uuid4()}"
        airflow.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": stray, "logical_date": None})

        env = {**airflow.env(), "KNIT_AIRFLOW_URL": airflow.url, "KNIT_AIRFLOW_USERNAME": "admin",
               "KNIT_AIRFLOW_PASSWORD": airflow.password(), "KNIT_PROFILE_STORE": str(tmp_path / "p")}  # fmt: skip
        knit_cli = str(Path(sys.executable).with_name("knit"))
        listed = subprocess.run([knit_cli, "admin", "doctor", "--older-than", "0s"], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        found = {(f["kind"], f["runId"]) for f in json.loads(listed.stdout)["findings"]}
        assert found == {("lost-run", run["runId"]), ("stray-dagrun", stray[len("knit__") :])}, listed.stdout
        assert "not checked" in listed.stderr and "pods" in listed.stderr and "dagRuns" not in listed.stderr

        client = KnitClient(airflow.url, token=airflow.token())  # the remote mode: the api-server's doctor
        fixed = client.admin.doctor(fix=True, older_than="0s")
        assert sorted(f["kind"] for f in fixed["findings"] if f["fixed"]) == ["lost-run", "stray-dagrun"], fixed
        lost = runs.show(knit, run["runId"])
        assert lost["status"] == "failed" and "does not exist" in lost["exit"]["message"]
        assert airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{stray}")["state"] == "failed"
        assert client.admin.doctor(older_than="0s")["findings"] == []
    finally:
        airflow.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        airflow.api("PATCH", generator, {"is_paused": False})
