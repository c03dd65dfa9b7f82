"""``knit explain`` through the REST API and on the pages (route tests: the real Knit app on a test catalog)."""

from __future__ import annotations

import pytest
from api_helpers import tar_bytes

from knit_provider.service import explain, plans

pytestmark = pytest.mark.explain

TRAIN = (
    "image: x/train:1\n"
    "inputs: [{path: /in/dataset, tags: ['type:dataset', 'mode:training']}]\n"
    "outputs: [{path: /out/model, tags: ['type:model']}]\n"
)


def upload(api, *tags: str) -> str:
    reply = api.post("/api/data", params={"tag": list(tags)}, content=tar_bytes({"a.txt": "alpha"}))
    assert reply.status_code == 200, reply.text
    return reply.json()["knitId"]


def test_explain_data_route_is_the_service_answer(api, api_knit):
    train = plans.apply(api_knit, TRAIN)["planId"]
    knit_id = upload(api, "type:dataset", "mode:trainig")
    reply = api.get(f"/api/data/{knit_id}/explain")
    assert reply.status_code == 200, reply.text
    assert reply.json() == explain.data(api_knit, knit_id)
    (entry,) = reply.json()["inputs"]
    assert entry["reasons"][0]["didYouMean"] == [{"missing": "mode:training", "has": "mode:trainig"}]
    assert api.get(f"/api/data/{knit_id}/explain", params={"plan": train}).json()["summary"]["inputs"] == 1
    missing = api.get(f"/api/data/{knit_id}/explain", params={"plan": "nope"})
    assert missing.status_code == 404 and missing.json()["message"] == "plan not found: nope"
    assert api.get("/api/data/nope/explain").status_code == 404


def test_near_misses_route(api, api_knit):
    train = plans.apply(api_knit, TRAIN)["planId"]
    knit_id = upload(api, "type:dataset", "mode:Training")
    reply = api.get(f"/api/plans/{train}/near-misses")
    assert reply.status_code == 200 and reply.json() == explain.near_misses(api_knit, train)
    assert reply.json()["inputs"][0]["data"][0]["knitId"] == knit_id
    assert api.get("/api/plans/nope/near-misses").status_code == 404


def test_the_data_page_shows_plans_and_why_escaped(api, api_knit):
    train = plans.apply(api_knit, TRAIN)["planId"]
    knit_id = upload(api, "type:dataset", "mode:trainig", "note:<b>bold</b>")
    html = api.get(f"/data/{knit_id}").text
    panel = html[html.index('id="plans-why"') :]
    assert "not nominated" in panel and f"/knit/plans/{train}" in panel
    assert "it has mode:trainig, which differs only slightly: did you mean mode:training?" in panel
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def test_the_plan_page_shows_data_that_almost_match(api, api_knit):
    train = plans.apply(api_knit, TRAIN)["planId"]
    knit_id = upload(api, "type:dataset", "mode:trainig")
    html = api.get(f"/plans/{train}").text
    panel = html[html.index('id="near-misses"') :]
    assert knit_id in panel and "did you mean mode:training?" in panel and "1 Data" in panel


def test_explain_run_route_and_the_run_page(api, api_knit):
    from knit_provider.core.airflow_names import dagrun_id
    from knit_provider.service import runs

    train = plans.apply(api_knit, TRAIN)["planId"]
    knit_id = upload(api, "type:dataset", "mode:training")
    (run,) = runs.find(api_knit, plan_ids=[train])
    reply = api.get(f"/api/runs/{run['runId']}/explain")
    assert reply.status_code == 200 and reply.json() == explain.run(api_knit, run["runId"])
    assert reply.json()["cause"]["event"] == "upload" and reply.json()["cause"]["ref"] == knit_id
    assert api.get(f"/api/runs/{dagrun_id(run['runId'])}/explain").json() == reply.json(), "the DagRun id works too"
    assert api.get("/api/runs/nope/explain").status_code == 404
    html = api.get(f"/runs/{run['runId']}").text
    why = html[html.index('id="run-why"') :]
    assert f"Data {knit_id} was uploaded" in why and "it waits for its DagRun in DAG" in why
