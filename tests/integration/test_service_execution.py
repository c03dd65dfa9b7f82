"""Carrying Runs through an executor, on a real catalog: pending work, dispatch claims, attempts, the end,
reconciliation, and the Plans' DAG specs. No Airflow here: these are the rules the operators only wrap."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from knit_provider.core.airflow_names import Dispatch, plan_dag_id
from knit_provider.core.errors import Conflict
from knit_provider.service import data, dispatching, execution, plans, reconciliation, runs
from knit_provider.service.plan_dags import plan_dags
from knit_provider.service.reconciliation import one_by_one

CHAIN_A = (
    "image: r/a:v1\ninputs: [{path: /in, tags: ['t:raw']}]\noutputs: [{path: /out, tags: ['t:mid']}]\n"
    "log: {tags: ['t:log']}\n"
)
CHAIN_B = "image: r/b:v1\ninputs: [{path: /in, tags: ['t:mid']}]\noutputs: [{path: /out, tags: ['t:end']}]\n"


@pytest.fixture
def chain(knit, make_dir):
    a = plans.apply(knit, CHAIN_A)["planId"]
    b = plans.apply(knit, CHAIN_B)["planId"]
    raw = data.push_dir(knit, make_dir(files={"x.txt": "raw"}), ["t:raw"])
    (run,) = runs.find(knit, plan_ids=[a])
    return {"a": a, "b": b, "raw": raw["knitId"], "run": run["runId"]}


def pending(knit, after: float = 60.0) -> dispatching.PendingWork:
    return dispatching.pending_work(knit, redispatch_after_s=after)


def run_through(knit, run_id: str, exit_code: int, message: str = "") -> execution.Ending:
    assignment = execution.start_attempt(knit, run_id)
    assert isinstance(assignment, execution.Assignment)
    assert execution.started(knit, run_id)
    for port in assignment.outputs:
        (port.host_dir / "result.txt").write_text("made")
    return execution.conclude(knit, run_id, exit_code=exit_code, message=message)


def test_pending_counts_waiting_runs_until_claimed_then_after_the_redispatch_delay(knit, chain) -> None:
    assert pending(knit) == dispatching.PendingWork(dispatchable=1, held=0)
    (claimed,) = dispatching.claim_dispatchable(knit, redispatch_after_s=60)
    assert claimed.run_id == chain["run"] and claimed.plan_id == chain["a"]
    assert claimed.dag_id == plan_dag_id("r/a:v1", chain["a"]) == f"knit_plan__a-v1-{chain['a'][:8]}"
    assert claimed.dagrun_id == f"knit__{chain['run']}"
    assert claimed.conf == {"knit_run_id": chain["run"], "knit_plan_id": chain["a"]}
    assert pending(knit) == dispatching.PendingWork(dispatchable=0, held=0), "a fresh claim is not due again"
    assert dispatching.claim_dispatchable(knit, redispatch_after_s=60) == []
    time.sleep(0.02)
    assert pending(knit, after=0.01).dispatchable == 1, "a failed dispatch is retried later"
    assert [d.run_id for d in dispatching.claim_dispatchable(knit, redispatch_after_s=0.01)] == [chain["run"]]
    assert dispatching.mark_dispatched(knit, chain["run"])
    assert pending(knit) == dispatching.PendingWork(dispatchable=0, held=1)
    assert not dispatching.mark_dispatched(knit, chain["run"]), "only a waiting Run becomes ready"


def test_claims_can_be_limited_to_given_runs_and_never_include_uploads(knit, chain, make_dir) -> None:
    data.push_dir(knit, make_dir(files={"y.txt": "second"}), ["t:raw"])
    assert dispatching.claim_dispatchable(knit, redispatch_after_s=60, run_ids=[]) == []
    (only,) = dispatching.claim_dispatchable(knit, redispatch_after_s=60, run_ids=[chain["run"]])
    assert only.run_id == chain["run"]
    rest = dispatching.claim_dispatchable(knit, redispatch_after_s=60)
    assert len(rest) == 1 and rest[0].run_id != chain["run"] and rest[0].plan_id == chain["a"]


def test_an_attempt_mounts_inputs_and_fresh_outputs_then_done_starts_downstream(knit, chain) -> None:
    assignment = execution.start_attempt(knit, chain["run"])
    assert isinstance(assignment, execution.Assignment)
    assert runs.show(knit, chain["run"])["status"] == "starting"
    assert assignment.image == "r/a:v1" and assignment.entrypoint is None
    (inp,) = assignment.inputs
    assert inp.path == "/in" and inp.knit_id == chain["raw"] and (inp.host_dir / "x.txt").read_text() == "raw"
    (out,) = assignment.outputs
    assert out.path == "/out" and out.host_dir.is_dir() and not any(out.host_dir.iterdir())
    assert assignment.log_path is not None and assignment.log_path.name == "log"
    assert assignment.env["KNIT_RUN_ID"] == chain["run"]
    assert execution.started(knit, chain["run"])
    (out.host_dir / "result.txt").write_text("made")
    ending = execution.conclude(knit, chain["run"], exit_code=0, message="")
    assert ending.status.value == "done" and ending.exit_code == 0
    (downstream,) = runs.find(knit, plan_ids=[chain["b"]])
    assert ending.created_runs == [downstream["runId"]] and downstream["status"] == "waiting"
    assert any(t.startswith("knit#timestamp:") for t in data.show(knit, out.knit_id)["tags"])


def test_a_failed_program_fails_the_run_marks_outputs_and_causes_nothing(knit, chain) -> None:
    ending = run_through(knit, chain["run"], 3, "exit code 3")
    assert (ending.status.value, ending.exit_code, ending.message) == ("failed", 3, "exit code 3")
    assert ending.created_runs == [] and runs.find(knit, plan_ids=[chain["b"]]) == []
    output = runs.show(knit, chain["run"])["outputs"][0]["knitId"]
    assert "knit#transient:failed" in data.show(knit, output)["tags"]


def test_attempts_on_finished_or_deactivated_runs_do_nothing(knit, chain) -> None:
    run_through(knit, chain["run"], 0)
    assert execution.start_attempt(knit, chain["run"]) is None
    plans.set_active(knit, chain["b"], False)
    (downstream,) = runs.find(knit, plan_ids=[chain["b"]])
    assert downstream["status"] == "deactivated"
    assert execution.start_attempt(knit, downstream["runId"]) is None


def test_a_new_attempt_retries_a_failed_run_and_fails_a_dead_attempt_first(knit, chain) -> None:
    run_through(knit, chain["run"], 1, "boom")
    old_output = runs.show(knit, chain["run"])["outputs"][0]["knitId"]
    again = execution.start_attempt(knit, chain["run"])  # clearing the task in Airflow's UI
    assert isinstance(again, execution.Assignment) and again.outputs[0].knit_id != old_output
    assert not knit.store.exists(old_output), "a retry discards the failed outputs"
    execution.started(knit, chain["run"])
    third = execution.start_attempt(knit, chain["run"])  # the previous attempt died while running
    assert isinstance(third, execution.Assignment)
    assert runs.show(knit, chain["run"])["status"] == "starting"


def test_a_run_stopped_before_its_program_ends_keeps_the_stop(knit, chain) -> None:
    assignment = execution.start_attempt(knit, chain["run"])
    assert isinstance(assignment, execution.Assignment)
    execution.started(knit, chain["run"])
    runs.stop(knit, chain["run"], fail=True)
    ending = execution.conclude(knit, chain["run"], exit_code=137, message="killed by signal SIGKILL")
    assert (ending.status.value, ending.exit_code) == ("failed", 253), "the stop's verdict, not the kill's"


def test_a_task_queued_before_a_stop_fail_records_the_stop_instead_of_retrying_the_run(knit, chain) -> None:
    outputs = [o["knitId"] for o in runs.show(knit, chain["run"])["outputs"]]
    runs.stop(knit, chain["run"], fail=True)  # waiting, its DagRun maybe queued already: failed at once
    ending = execution.start_attempt(knit, chain["run"])  # that DagRun's task starts after the stop
    assert isinstance(ending, execution.Ending), "the stop is recorded, not undone by a retry"
    assert (ending.status.value, ending.exit_code) == ("failed", 253)
    assert "knit run retry" in ending.message
    run = runs.show(knit, chain["run"])
    assert run["status"] == "failed" and [o["knitId"] for o in run["outputs"]] == outputs
    runs.retry(knit, chain["run"])  # the user's own retry runs it again
    assert isinstance(execution.start_attempt(knit, chain["run"]), execution.Assignment)


def test_a_run_stopped_with_fail_while_running_is_retried_by_a_cleared_task(knit, chain) -> None:
    assert isinstance(execution.start_attempt(knit, chain["run"]), execution.Assignment)
    execution.started(knit, chain["run"])
    runs.stop(knit, chain["run"], fail=True)
    execution.conclude(knit, chain["run"], exit_code=137, message="killed by signal SIGKILL")
    again = execution.start_attempt(knit, chain["run"])  # clearing the task in Airflow's UI
    assert isinstance(again, execution.Assignment), "an attempt that ran is retried by a cleared task"


def test_a_run_removed_meanwhile_is_a_conflict(knit, chain) -> None:
    run_through(knit, chain["run"], 1)
    runs.remove(knit, chain["run"])
    with pytest.raises(Conflict, match="invalidated"):
        execution.start_attempt(knit, chain["run"])


def test_reconcile_fails_held_runs_whose_dagrun_ended_or_vanished(knit, chain, make_dir) -> None:
    data.push_dir(knit, make_dir(files={"y.txt": "2"}), ["t:raw"])
    data.push_dir(knit, make_dir(files={"z.txt": "3"}), ["t:raw"])
    ids = [r["runId"] for r in runs.find(knit, plan_ids=[chain["a"]])]
    for run_id in ids:
        execution.start_attempt(knit, run_id)
        execution.started(knit, run_id)
    airflow_says = {ids[0]: "running", ids[1]: "failed", ids[2]: None}
    asked: list[list[str]] = []

    def dagrun_states(held: Sequence[Dispatch]) -> dict[str, str | None]:
        asked.append(sorted(d.dagrun_id for d in held))
        return {d.run_id: airflow_says[d.run_id] for d in held}

    ended = dict(reconciliation.reconcile(knit, dagrun_states, heartbeat_timeout_s=60))
    assert asked == [sorted(f"knit__{i}" for i in ids)], "Airflow is asked once, about every held Run"
    assert set(ended) == {ids[1], ids[2]}
    assert runs.show(knit, ids[0])["status"] == "running"
    failed = runs.show(knit, ids[1])
    assert failed["status"] == "failed" and failed["exit"]["code"] == execution.EXIT_LOST
    assert "ended failed" in failed["exit"]["message"] and "reconciliation" in failed["exit"]["message"]
    assert "does not exist" in runs.show(knit, ids[2])["exit"]["message"]
    assert "knit#transient:failed" in data.show(knit, failed["outputs"][0]["knitId"])["tags"]
    assert runs.find(knit, plan_ids=[chain["b"]]) == [], "nothing downstream fires"
    assert reconciliation.reconcile(knit, dagrun_states, heartbeat_timeout_s=60) == [], "idempotent"


def test_a_run_whose_task_stops_beating_is_lost_at_once_without_asking_airflow(knit, chain, monkeypatch) -> None:
    """A killed worker leaves its DagRun "running" in Airflow for minutes; the heartbeat tells at once."""
    monkeypatch.setattr(execution, "STOP_POLL_S", 0.05)
    run_id = chain["run"]
    execution.start_attempt(knit, run_id)
    execution.started(knit, run_id)
    asked: list[str] = []

    def airflow_says_running(held: Dispatch) -> str:
        asked.append(held.run_id)
        return "running"

    killed: list[str] = []
    with execution.watching(knit, run_id, lambda: killed.append(run_id), heartbeat_timeout_s=0.6):
        time.sleep(1.5)  # the task is alive: it beats every 0.1 s
        assert reconciliation.reconcile(knit, one_by_one(airflow_says_running), heartbeat_timeout_s=0.6) == []
    assert asked == [run_id] and killed == []
    time.sleep(1.0)  # the task is gone: no more beats
    (ended,) = reconciliation.reconcile(knit, one_by_one(airflow_says_running), heartbeat_timeout_s=0.6)
    assert asked == [run_id], "a silent task is lost without asking Airflow"
    failed = runs.show(knit, run_id)
    assert ended[0] == run_id and failed["status"] == "failed" and failed["exit"]["code"] == execution.EXIT_LOST
    assert "no heartbeat" in failed["exit"]["message"] and "worker killed?" in failed["exit"]["message"]


def test_a_retried_run_does_not_inherit_the_heartbeat_of_its_dead_attempt(knit, chain) -> None:
    """A worker killed mid-Run: the Run is lost, then retried; dispatched again (ready, its new task not started
    yet), it is not lost again for the silence of the dead attempt."""
    run_id = chain["run"]
    execution.start_attempt(knit, run_id)
    execution.started(knit, run_id)
    time.sleep(1.0)  # the worker was killed: no beats
    (ended,) = reconciliation.reconcile(knit, one_by_one(lambda held: "running"), heartbeat_timeout_s=0.5)
    assert ended[0] == run_id and runs.show(knit, run_id)["status"] == "failed"
    runs.retry(knit, run_id)
    (claimed,) = dispatching.claim_dispatchable(knit, redispatch_after_s=60)
    assert claimed.run_id == run_id and dispatching.mark_dispatched(knit, run_id)
    assert runs.show(knit, run_id)["status"] == "ready", "its DagRun exists; its task has not begun"
    assert reconciliation.reconcile(knit, one_by_one(lambda held: "queued"), heartbeat_timeout_s=0.5) == []
    assert runs.show(knit, run_id)["status"] == "ready"


def test_watching_kills_the_program_once_the_run_is_stopped(knit, chain, monkeypatch) -> None:
    monkeypatch.setattr(execution, "STOP_POLL_S", 0.05)
    run_id = chain["run"]
    execution.start_attempt(knit, run_id)
    execution.started(knit, run_id)
    killed: list[str] = []
    with execution.watching(knit, run_id, lambda: killed.append(run_id), heartbeat_timeout_s=30):
        runs.stop(knit, run_id, fail=True)
        deadline = time.monotonic() + 10
        while not killed and time.monotonic() < deadline:
            time.sleep(0.05)
    assert killed == [run_id], "killed once"
    assert execution.conclude(knit, run_id, exit_code=137, message="killed").status.value == "failed"
    assert runs.show(knit, run_id)["exit"] == {"code": 253, "message": "aborted by user"}, "the stop's verdict"


def test_plan_dags_describe_every_plan_but_uploads(knit, chain) -> None:
    plans.set_active(knit, chain["b"], False)
    specs = {p.plan_id: p for p in plan_dags(knit)}
    assert set(specs) == {chain["a"], chain["b"]}
    a, b = specs[chain["a"]], specs[chain["b"]]
    assert a.dag_id.startswith("knit_plan__a-v1-") and a.active and not b.active
    assert (a.inputs, a.outputs, a.image) == (["/in"], ["/out"], "r/a:v1")
