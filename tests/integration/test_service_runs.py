"""Run lifecycle on a real catalog: transitions, finishing, stop, retry and rm with Knitfab's rules."""

from __future__ import annotations

import pytest
from knit_dev import lifecycle

from knit_provider.catalog import runs as catalog_runs
from knit_provider.catalog.engine import write_tx
from knit_provider.core.errors import Conflict, IllegalTransition, NotFound
from knit_provider.core.lifecycle import RunStatus
from knit_provider.service import data, plans, runs

CHAIN_A = (
    "image: r/a:v1\ninputs: [{path: /in, tags: ['t:raw']}]\noutputs: [{path: /out, tags: ['t:mid']}]\n"
    "log: {tags: ['t:log']}\n"
)
CHAIN_B = "image: r/b:v1\ninputs: [{path: /in, tags: ['t:mid']}]\noutputs: [{path: /out, tags: ['t:end']}]\n"


@pytest.fixture
def chain(knit, make_dir):
    """Plans A (raw -> mid, with log) and B (mid -> end), one raw Data pushed: one waiting Run of A."""
    a = plans.apply(knit, CHAIN_A)["planId"]
    b = plans.apply(knit, CHAIN_B)["planId"]
    raw = data.push_dir(knit, make_dir(), ["t:raw"])
    (run,) = runs.find(knit, plan_ids=[a])
    return {"a": a, "b": b, "raw": raw["knitId"], "run": run["runId"], "upload": raw["upstream"]["run"]["runId"]}


def run_to(knit, run_id: str, exit_code: int) -> dict:
    return lifecycle.finish(knit, run_id, exit_code=exit_code, message="" if exit_code == 0 else "boom")


def transition(knit, run_id: str, status: str) -> None:
    """The catalog's lifecycle rule itself (every executor's step goes through it)."""
    with write_tx(knit.engine) as conn:
        catalog_runs.transition(conn, run_id, RunStatus(status))


def test_run_json_shape(knit, chain) -> None:
    run = runs.show(knit, chain["run"])
    assert list(run) == ["runId", "status", "updatedAt", "plan", "inputs", "outputs", "log", "attempt"]
    assert run["attempt"] == 1, "beyond Knitfab, after Knitfab's keys: the current attempt"
    assert run["status"] == "waiting" and "exit" not in run
    assert run["inputs"] == [{"path": "/in", "tags": ["t:raw"], "knitId": chain["raw"]}]
    assert run["outputs"][0]["path"] == "/out" and run["outputs"][0]["tags"] == ["t:mid"]
    assert run["log"]["tags"] == ["t:log"]
    output = data.show(knit, run["outputs"][0]["knitId"])
    assert "knit#transient:processing" in output["tags"]
    assert not any(t.startswith("knit#timestamp") for t in output["tags"])
    upload = runs.show(knit, chain["upload"])
    assert upload["plan"]["name"] == "knit#uploaded" and upload["inputs"] == [] and upload["log"] is None


def test_done_timestamps_and_nominates_outputs_downstream(knit, chain) -> None:
    done = run_to(knit, chain["run"], 0)
    assert done["status"] == "done" and done["exit"] == {"code": 0, "message": ""}
    output = data.show(knit, done["outputs"][0]["knitId"])
    assert not any(t.startswith("knit#transient") for t in output["tags"])
    assert any(t.startswith("knit#timestamp:") for t in output["tags"])
    assert [n["plan"]["planId"] for n in output["nomination"]] == [chain["b"]]
    (downstream,) = runs.find(knit, plan_ids=[chain["b"]])
    assert downstream["inputs"][0]["knitId"] == output["knitId"]
    assert data.show(knit, chain["raw"])["downstreams"][0]["run"]["runId"] == chain["run"]


def test_failed_marks_outputs_failed_and_nominates_nothing(knit, chain) -> None:
    failed = run_to(knit, chain["run"], 3)
    assert failed["status"] == "failed" and failed["exit"] == {"code": 3, "message": "boom"}
    output = data.show(knit, failed["outputs"][0]["knitId"])
    assert "knit#transient:failed" in output["tags"]
    assert any(t.startswith("knit#timestamp:") for t in output["tags"])
    assert output["nomination"] == []
    assert runs.find(knit, plan_ids=[chain["b"]]) == []
    failed_data = {d["knitId"] for d in data.find(knit, ["knit#transient:failed"])}
    assert failed_data == {output["knitId"], failed["log"]["knitId"]}


def test_illegal_transitions_are_errors(knit, chain) -> None:
    with pytest.raises(IllegalTransition, match="cannot go from waiting to running"):
        transition(knit, chain["run"], "running")
    assert runs.show(knit, chain["run"])["status"] == "waiting"
    run_to(knit, chain["run"], 0)
    with pytest.raises(IllegalTransition, match="done"):
        transition(knit, chain["run"], "waiting")
    with pytest.raises(NotFound, match="run not found: missing"):
        transition(knit, "missing", "ready")


def test_stop_completes_with_exit_0_and_fail_aborts_with_253(knit, chain, make_dir) -> None:
    lifecycle.start(knit, chain["run"])
    stopped = runs.stop(knit, chain["run"])
    assert stopped["status"] == "completing" and stopped["exit"] == {"code": 0, "message": "stopped by user"}
    with pytest.raises(IllegalTransition):
        runs.stop(knit, chain["run"], fail=True)
    data.push_dir(knit, make_dir(), ["t:raw"])
    waiting = next(r for r in runs.find(knit, plan_ids=[chain["a"]], statuses=["waiting"]))
    with pytest.raises(IllegalTransition, match="waiting to completing"):
        runs.stop(knit, waiting["runId"])
    aborted = runs.stop(knit, waiting["runId"], fail=True)
    assert aborted["status"] == "failed", "no worker holds a waiting Run: it is finalized at once"
    assert aborted["exit"] == {"code": 253, "message": "aborted by user"}


def test_retry_gives_new_outputs_and_refuses_with_downstreams(knit, chain) -> None:
    first = run_to(knit, chain["run"], 0)
    with pytest.raises(Conflict, match="in use"):
        runs.retry(knit, chain["run"])
    (downstream,) = runs.find(knit, plan_ids=[chain["b"]])
    runs.remove(knit, downstream["runId"])  # now an invalidated tombstone: no longer blocks
    assert runs.show(knit, downstream["runId"])["status"] == "invalidated"
    retried = runs.retry(knit, chain["run"])
    assert retried["status"] == "waiting" and "exit" not in retried
    assert retried["outputs"][0]["knitId"] != first["outputs"][0]["knitId"]
    assert retried["log"]["knitId"] != first["log"]["knitId"]
    with pytest.raises(NotFound):
        data.show(knit, first["outputs"][0]["knitId"])
    with pytest.raises(NotFound):
        runs.show(knit, downstream["runId"])  # tombstones on discarded outputs go with them
    with pytest.raises(Conflict, match="not finished"):
        runs.retry(knit, chain["run"])
    with pytest.raises(Conflict, match="upload"):
        runs.retry(knit, chain["upload"])
    run_to(knit, chain["run"], 0)
    assert len(runs.find(knit, plan_ids=[chain["b"]])) == 1, "the new output feeds B again"


def test_rm_upload_deletes_its_data_and_is_refused_while_consumed(knit, chain, make_dir) -> None:
    with pytest.raises(Conflict, match=chain["run"]):
        runs.remove(knit, chain["upload"])
    assert data.show(knit, chain["raw"])["knitId"] == chain["raw"]
    lone = data.push_dir(knit, make_dir(), ["t:other"])
    runs.remove(knit, lone["upstream"]["run"]["runId"])
    with pytest.raises(NotFound):
        data.show(knit, lone["knitId"])
    assert not (knit.home / "data" / lone["knitId"]).exists()


def test_rm_run_with_inputs_leaves_a_tombstone_that_never_reruns(knit, chain) -> None:
    runs.remove(knit, chain["run"])
    assert runs.show(knit, chain["run"])["status"] == "invalidated"
    assert data.show(knit, chain["raw"])["downstreams"] == []
    data.tag(knit, chain["raw"], remove=["t:raw"])
    data.tag(knit, chain["raw"], add=["t:raw"])
    assert [r["runId"] for r in runs.find(knit, plan_ids=[chain["a"]])] == [chain["run"]]
    with pytest.raises(NotFound):
        runs.remove(knit, chain["run"])


def test_rm_refuses_a_running_run(knit, chain) -> None:
    lifecycle.start(knit, chain["run"])
    with pytest.raises(Conflict, match="not stopped"):
        runs.remove(knit, chain["run"])
    assert runs.show(knit, chain["run"])["status"] == "running"


def test_find_filters_combine(knit, chain) -> None:
    done = run_to(knit, chain["run"], 0)
    assert [r["runId"] for r in runs.find(knit, input_ids=[chain["raw"]])] == [chain["run"]]
    assert [r["runId"] for r in runs.find(knit, output_ids=[done["outputs"][0]["knitId"]])] == [chain["run"]]
    assert [r["runId"] for r in runs.find(knit, plan_ids=[chain["a"]], statuses=["failed"])] == []
    assert {r["runId"] for r in runs.find(knit, statuses=["done", "waiting"], plan_ids=[chain["a"], chain["b"]])} == {
        chain["run"],
        runs.find(knit, plan_ids=[chain["b"]])[0]["runId"],
    }
