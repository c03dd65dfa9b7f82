"""``/knit/api/plans`` and ``/knit/api/runs``: ``knit plan`` and ``knit run`` over HTTP, same service calls."""

from __future__ import annotations

import io
import json

import pytest
from api_helpers import tar_bytes
from knit_dev import lifecycle

from knit_provider.core.errors import Conflict, InvalidInput
from knit_provider.core.layout import LOG_FILE
from knit_provider.service import data, plans, runs

PLAN = """\
image: repo/train:1.0
args: ["--epochs", "1"]
inputs:
  - path: /in/dataset
    tags: ["type:dataset"]
outputs:
  - path: /out/model
    tags: ["type:model"]
log:
  tags: ["type:log"]
"""


def apply(api, text: str = PLAN, content_type: str = "application/yaml"):
    return api.post("/api/plans", content=text.encode(), headers={"Content-Type": content_type})


def test_apply_yaml_gives_the_plan_as_the_service_shows_it(api, api_knit):
    reply = apply(api)
    assert reply.status_code == 200, reply.text
    plan = reply.json()
    assert plan == plans.show(api_knit, plan["planId"]) == api.get(f"/api/plans/{plan['planId']}").json()
    assert plan["image"] == "repo/train:1.0" and plan["args"] == ["--epochs", "1"]


def test_apply_json_is_the_same_plan(api, api_knit):
    body = {"image": "repo/train:2.0", "inputs": [{"path": "/in/x", "tags": ["type:dataset"]}]}
    reply = apply(api, json.dumps(body), "application/json")
    assert reply.status_code == 200, reply.text
    assert reply.json()["inputs"][0]["path"] == "/in/x"
    broken = apply(api, "{not json", "application/json")
    assert broken.status_code == 400 and broken.json()["message"].startswith("plan:1:2: not valid JSON")


def test_apply_errors_carry_the_clis_messages(api, api_knit):
    first = apply(api).json()
    with pytest.raises(Conflict) as cli_conflict:
        plans.apply(api_knit, PLAN)
    again = apply(api)
    assert again.status_code == 409
    assert again.json() == {"message": str(cli_conflict.value), "field": None, "type": "Conflict"}
    assert first["planId"] in again.json()["message"]
    typo = PLAN.replace("args:", "argz:")
    with pytest.raises(InvalidInput) as cli_invalid:
        plans.apply(api_knit, typo)
    invalid = apply(api, typo)
    assert invalid.status_code == 400 and invalid.json()["message"] == str(cli_invalid.value)
    assert "did you mean" in invalid.json()["message"]


def test_an_applied_plan_creates_runs_for_existing_data(api, api_knit):
    knit_id = data.push_tar(api_knit, io.BytesIO(tar_bytes({"a": "1"})), ["type:dataset"])["knitId"]
    plan = apply(api).json()
    (run,) = runs.find(api_knit, plan_ids=[plan["planId"]])
    assert run["status"] == "waiting" and run["inputs"][0]["knitId"] == knit_id


def test_find_plans_by_activeness_image_and_tags(api, api_knit):
    train = apply(api).json()
    other = apply(api, "image: repo/eval:1.0\ninputs: [{path: /in/m, tags: ['type:model']}]\n").json()
    api.delete(f"/api/plans/{other['planId']}/active")

    def ids(**params) -> list[str]:
        reply = api.get("/api/plans", params=params)
        assert reply.status_code == 200, reply.text
        return [p["planId"] for p in reply.json()]

    assert ids() == [train["planId"], other["planId"]]
    assert ids(active="yes") == [train["planId"]] and ids(active="false") == [other["planId"]]
    assert ids(image="repo/train") == [train["planId"]] and ids(image="repo/eval:1.0") == [other["planId"]]
    assert ids(in_tag="type:model") == [other["planId"]] and ids(out_tag="type:model") == [train["planId"]]
    assert api.get("/api/plans", params={"active": "maybe"}).json()["field"] == "active"


def test_the_mutable_fields(api, api_knit):
    plan_id = apply(api).json()["planId"]
    base = f"/api/plans/{plan_id}"
    assert api.delete(f"{base}/active").json()["active"] is False
    assert api.put(f"{base}/active").json()["active"] is True
    resources = api.put(f"{base}/resources", json={"set": {"cpu": 2, "nvidia.com/gpu": "1"}, "unset": ["memory"]})
    assert resources.json()["resources"] == {"cpu": "2", "nvidia.com/gpu": "1"}
    annotated = api.put(f"{base}/annotations", json={"add": ["a=1", {"key": "b", "value": "2"}, "c=3"]})
    assert annotated.json()["annotations"] == ["a=1", "b=2", "c=3"]
    trimmed = api.put(f"{base}/annotations", json={"remove": ["a=1"], "remove_key": ["b"], "add": ["d=4"]})
    assert trimmed.json()["annotations"] == ["c=3", "d=4"]
    assert api.put(f"{base}/serviceaccount", json={"serviceAccount": "trainer"}).json()["service_account"] == "trainer"
    assert "service_account" not in api.delete(f"{base}/serviceaccount").json()
    assert api.get(base).json() == plans.show(api_knit, plan_id)
    bad = api.put(f"{base}/serviceaccount", json={"serviceAccount": "Not Valid!"})
    assert bad.status_code == 400 and bad.json()["type"] == "InvalidInput"
    missing = api.put("/api/plans/no-such-plan/active")
    assert missing.status_code == 404 and missing.json()["message"] == "plan not found: no-such-plan"


@pytest.fixture
def started_run(api, api_knit) -> dict:
    """A Run of ``PLAN`` that is running, with a log file."""
    plan_id = apply(api).json()["planId"]
    data.push_tar(api_knit, io.BytesIO(tar_bytes({"a": "1"})), ["type:dataset"])
    (run,) = runs.find(api_knit, plan_ids=[plan_id])
    lifecycle.start(api_knit, run["runId"])
    log_dir = api_knit.store.create_empty(run["log"]["knitId"])
    (log_dir / LOG_FILE).write_text("first line\n")
    return runs.show(api_knit, run["runId"])


def test_find_and_show_runs(api, api_knit, started_run):
    run_id, plan_id = started_run["runId"], started_run["plan"]["planId"]
    input_id = started_run["inputs"][0]["knitId"]
    upload_run = data.show(api_knit, input_id)["upstream"]["run"]["runId"]
    assert api.get(f"/api/runs/{run_id}").json() == started_run == api.get(f"/api/runs/knit__{run_id}").json()

    def ids(**params) -> list[str]:
        return [r["runId"] for r in api.get("/api/runs", params=params).json()]

    assert ids(plan=plan_id) == [run_id]
    assert ids(knitIdInput=f"{input_id},other") == [run_id]
    assert ids(knitIdOutput=input_id) == [upload_run]
    assert ids(status="running,done") == [upload_run, run_id] and ids(status=["done"]) == [upload_run]
    assert ids(plan=plan_id, status="done") == []
    bad = api.get("/api/runs", params={"status": "sleeping"})
    assert bad.status_code == 400 and "sleeping" in bad.json()["message"]
    assert api.get("/api/runs/nope").json()["message"] == "run not found: nope"


def test_the_log_streams_as_text(api, api_knit, started_run):
    run_id = started_run["runId"]
    reply = api.get(f"/api/runs/{run_id}/log")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    assert reply.text == "first line\n"
    lifecycle.finish(api_knit, run_id, exit_code=0)
    followed = api.get(f"/api/runs/knit__{run_id}/log", params={"follow": ""})  # ended: follow ends at once
    assert followed.text == "first line\n"
    upload_run = data.show(api_knit, started_run["inputs"][0]["knitId"])["upstream"]["run"]["runId"]
    no_log = api.get(f"/api/runs/{upload_run}/log")
    assert no_log.status_code == 400 and "keeps no log" in no_log.json()["message"]


def test_follow_log_yields_until_the_run_has_finished(api_knit, started_run):
    """The service generator the log route streams: chunks as they are written, the end when the Run ends."""
    run_id = started_run["runId"]
    log_file = api_knit.store.path(started_run["log"]["knitId"]) / LOG_FILE
    steps = iter(["second\n", "third\n", None])

    def sleep(_seconds: float) -> None:  # each poll: the program writes a line, then ends
        line = next(steps)
        if line is None:
            lifecycle.finish(api_knit, run_id, exit_code=0)
        else:
            with log_file.open("a") as log:
                log.write(line)

    chunks = list(runs.follow_log(api_knit, run_id, follow=True, sleep=sleep))
    assert chunks == ["first line\n", "second\n", "third\n"]
    assert runs.show(api_knit, run_id)["status"] == "done"


def test_stop_retry_and_remove(api, api_knit, started_run):
    run_id = started_run["runId"]
    assert api.put(f"/api/runs/{run_id}/abort").json()["status"] == "aborting"
    lifecycle.finish(api_knit, run_id)  # the task concludes once the program is gone: the stop's verdict stands
    illegal = api.put(f"/api/runs/{run_id}/tearoff")
    assert illegal.status_code == 409 and illegal.json()["type"] == "IllegalTransition"
    old_output = started_run["outputs"][0]["knitId"]
    retried = api.put(f"/api/runs/{run_id}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "waiting"
    assert retried.json()["outputs"][0]["knitId"] != old_output
    removed = api.delete(f"/api/runs/{run_id}")
    assert removed.status_code == 204 and runs.show(api_knit, run_id)["status"] == "invalidated"
    input_id = started_run["inputs"][0]["knitId"]
    upload_run = data.show(api_knit, input_id)["upstream"]["run"]["runId"]
    assert api.delete(f"/api/runs/{upload_run}").status_code == 204
    assert api.get(f"/api/data/{input_id}/detail").status_code == 404


def test_tearoff_ends_a_run_done(api, api_knit, started_run):
    stopped = api.put(f"/api/runs/knit__{started_run['runId']}/tearoff")
    assert stopped.status_code == 200 and stopped.json()["status"] == "completing"
