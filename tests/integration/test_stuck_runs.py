"""Stuck Runs (issue 16): a Run in starting, running, completing or aborting whose task is gone, whose pod vanished
or that outlived its timeout is concluded with a message saying which; ``knit admin doctor`` lists what is
inconsistent between the catalog, Airflow's DagRuns and the pods, and ``--fix`` repairs it. Airflow and the
cluster are played by plain functions here (the real ones: tests/e2e and tests/kubernetes)."""

from __future__ import annotations

import time

import pytest

from knit_provider.core.airflow_names import Dispatch
from knit_provider.service import data, dispatching, doctor, execution, plans, reconciliation, runs
from knit_provider.service.consistency import Rules
from knit_provider.service.reconciliation import one_by_one
from knit_provider.service.run_pods import RunPod

pytestmark = pytest.mark.run_control
PLAN = "image: r/st:v1\ninputs: [{path: /in, tags: ['st:in']}]\noutputs: [{path: /out, tags: ['st:out']}]\n"


@pytest.fixture
def make_run(knit, make_dir):
    plan_id = plans.apply(knit, PLAN)["planId"]
    made = []

    def make(*, running: bool = True) -> str:
        data.push_dir(knit, make_dir(f"in{len(made)}", files={"a": str(len(made))}), ["st:in"])
        (run_id,) = {r["runId"] for r in runs.find(knit, plan_ids=[plan_id])} - set(made)
        made.append(run_id)
        if running:
            execution.start_attempt(knit, run_id)
            execution.started(knit, run_id)
        return run_id

    return make


def running(_dispatch: Dispatch) -> str:
    return "running"


def test_a_stopped_run_whose_task_died_keeps_the_stops_verdict_and_says_what_happened(knit, make_run) -> None:
    completing, aborting = make_run(), make_run()
    runs.stop(knit, completing)
    runs.stop(knit, aborting, fail=True)
    gone = {completing: "failed", aborting: None}  # the first's DagRun ended, the second's vanished

    ended = dict(reconciliation.reconcile(knit, one_by_one(lambda d: gone[d.run_id]), heartbeat_timeout_s=60))
    assert set(ended) == {completing, aborting}
    done, failed = runs.show(knit, completing), runs.show(knit, aborting)
    assert done["status"] == "done" and done["exit"]["code"] == 0, "stopped as done: its outputs count"
    assert done["exit"]["message"].startswith("stopped by user; then lost: its Airflow DagRun")
    assert "ended failed" in done["exit"]["message"]
    assert failed["status"] == "failed" and failed["exit"]["code"] == 253
    assert (
        failed["exit"]["message"].startswith("aborted by user; then lost:")
        and "does not exist" in failed["exit"]["message"]
    )


def test_a_stopped_run_whose_task_stopped_beating_is_concluded(knit, make_run) -> None:
    run_id = make_run()
    runs.stop(knit, run_id, fail=True)
    time.sleep(1.2)
    (ended,) = reconciliation.reconcile(knit, one_by_one(running), heartbeat_timeout_s=1.0)
    assert ended[0] == run_id and "no heartbeat" in runs.show(knit, run_id)["exit"]["message"]


def test_a_retried_run_waiting_for_its_task_is_not_taken_for_lost(knit, make_run) -> None:
    """Its last attempt's heartbeat is old; a new attempt beats anew (the old one must not count)."""
    run_id = make_run()
    execution.conclude(knit, run_id, exit_code=1, message="boom")
    time.sleep(1.2)
    runs.retry(knit, run_id)
    dispatching.mark_dispatched(knit, run_id)  # its DagRun exists: ready, no task yet
    assert reconciliation.reconcile(knit, one_by_one(running), heartbeat_timeout_s=1.0) == []
    assert runs.show(knit, run_id)["status"] == "ready"


def test_a_running_run_whose_pod_vanished_is_concluded_after_a_second_look(knit, make_run, monkeypatch) -> None:
    monkeypatch.setattr(reconciliation, "POD_RECHECK_S", 0.1)
    vanished, back, fine = make_run(), make_run(), make_run()
    looks = iter([{fine}, {fine, back}])  # ``back``'s pod shows up again on the second look

    ended = reconciliation.reconcile(knit, one_by_one(running), heartbeat_timeout_s=60, pods_now=lambda: next(looks))
    assert [run_id for run_id, _ in ended] == [vanished]
    shown = runs.show(knit, vanished)
    assert shown["status"] == "failed" and shown["exit"]["code"] == execution.EXIT_LOST
    assert "its pod vanished" in shown["exit"]["message"] and "knit/run-id" in shown["exit"]["message"]
    assert runs.show(knit, back)["status"] == runs.show(knit, fine)["status"] == "running"


class FakeAirflow:
    def __init__(self, states: dict[str, str | None], unfinished: list[tuple[str, str, str, int | None]]) -> None:
        self.states, self.unfinished, self.failed = states, unfinished, []

    def dagrun_state(self, dispatch: Dispatch) -> str | None:
        return self.states.get(dispatch.run_id, "running")

    def unfinished_dagruns(self):
        return self.unfinished

    def fail_dagrun(self, dag_id: str, dagrun_id: str) -> None:
        self.failed.append(dagrun_id)


class FakePods:
    def __init__(self, pods: list[RunPod]) -> None:
        self.pods, self.deleted = pods, []

    def run_pods(self) -> list[RunPod]:
        return [p for p in self.pods if p not in self.deleted]

    def delete(self, pod: RunPod) -> None:
        self.deleted.append(pod)


def test_doctor_finds_and_fixes_each_inconsistency_it_knows(knit, make_run) -> None:
    lost, finished, live = make_run(), make_run(), make_run()
    execution.conclude(knit, finished, exit_code=0, message="")
    airflow = FakeAirflow(
        {lost: None},
        [("knit_plan__st", f"knit__{finished}", "running", None), ("knit_plan__st", f"knit__{live}", "running", None),
         ("knit_plan__st", "knit__never-a-run", "queued", 0)],
    )  # fmt: skip
    pods = FakePods(
        [RunPod("p-finished", "ns", finished, 0), RunPod("p-live", "ns", live, 0), RunPod("p-lost", "ns", lost, 0)]
    )
    options = {"older_than": "0s", "rules": Rules(heartbeat_timeout_s=60), "airflow": airflow, "pods": pods}

    report = doctor.doctor(knit, **options)
    found = sorted((f["kind"], f.get("runId")) for f in report["findings"])
    assert found == sorted(
        [("lost-run", lost), ("stray-dagrun", finished), ("stray-dagrun", "never-a-run"), ("leftover-pod", finished)]
    )
    assert report["notChecked"] == {} and not any(f["fixed"] for f in report["findings"])
    assert runs.show(knit, lost)["status"] == "running" and airflow.failed == [] and pods.deleted == []

    fixed = doctor.doctor(knit, fix=True, **options)
    assert all(f["fixed"] for f in fixed["findings"]) and len(fixed["findings"]) == 4
    assert runs.show(knit, lost)["status"] == "failed" and "does not exist" in runs.show(knit, lost)["exit"]["message"]
    assert sorted(airflow.failed) == sorted([f"knit__{finished}", "knit__never-a-run"])
    assert [p.name for p in pods.deleted] == ["p-finished"]
    assert runs.show(knit, live)["status"] == "running", "what is consistent is left alone"


def test_doctor_says_what_it_could_not_check(knit, make_run) -> None:
    class Down(FakeAirflow):
        def unfinished_dagruns(self):
            raise OSError("connection refused")

    report = doctor.doctor(knit, airflow=Down({}, []), not_checked={"pods": "the runner is process"})
    assert report["notChecked"]["pods"] == "the runner is process"
    assert "connection refused" in report["notChecked"]["dagRuns"]


def test_what_just_finished_is_not_a_stray_yet(knit, make_run) -> None:
    finished = make_run()
    execution.conclude(knit, finished, exit_code=0, message="")
    airflow = FakeAirflow({}, [("knit_plan__st", f"knit__{finished}", "running", None)])
    assert doctor.doctor(knit, older_than="1h", airflow=airflow)["findings"] == [], "its task may still be ending"
