"""``dry_run=true`` on the write routes, and ``yes=true`` for a large backfill (route tests)."""

from __future__ import annotations

import pytest
from api_helpers import stored_ids, tar_bytes

from knit_provider.service import data, plans, runs

pytestmark = pytest.mark.explain

RAW = "image: x/raw:1\ninputs: [{path: /in, tags: ['type:raw']}]\noutputs: [{path: /out, tags: ['type:mid']}]\n"
YAML = {"Content-Type": "application/yaml"}


def upload(api, *tags: str) -> str:
    reply = api.post("/api/data", params={"tag": list(tags)}, content=tar_bytes({"a.txt": "alpha"}))
    assert reply.status_code == 200, reply.text
    return reply.json()["knitId"]


def test_dry_run_apply_and_the_backfill_guard(api, api_knit, knit_app):
    from knit_provider.api.rest.common import backfill_limit

    for _ in range(3):
        upload(api, "type:raw")
    preview = api.post("/api/plans", params={"dry_run": "true"}, content=RAW, headers=YAML)
    assert preview.status_code == 200, preview.text
    assert preview.json()["runs"]["count"] == 3 and preview.json()["plan"]["planId"] == "(new plan)"
    assert plans.find(api_knit) == []
    app = knit_app.routes[-1].app
    app.dependency_overrides[backfill_limit] = lambda: 2
    try:
        refused = api.post("/api/plans", content=RAW, headers=YAML)
        assert refused.status_code == 409 and "would create 3 Runs" in refused.json()["message"], refused.text
        assert plans.find(api_knit) == []
        assert api.post("/api/plans", params={"dry_run": "true"}, content=RAW, headers=YAML).json()["needsConfirmation"]
        applied = api.post("/api/plans", params={"yes": "true"}, content=RAW, headers=YAML)
        assert applied.status_code == 200, applied.text
    finally:
        del app.dependency_overrides[backfill_limit]
    assert len(runs.find(api_knit, plan_ids=[applied.json()["planId"]])) == 3


def test_dry_run_tag_push_and_active(api, api_knit):
    plan_id = plans.apply(api_knit, RAW.replace("outputs:", "active: false\noutputs:"))["planId"]
    knit_id = upload(api, "type:other")
    tagged = api.put(f"/api/data/{knit_id}", params={"dry_run": "true"}, json={"add": ["type:raw"]})
    assert tagged.status_code == 200 and tagged.json()["runs"]["count"] == 1, tagged.text
    assert "type:raw" not in data.show(api_knit, knit_id)["tags"]
    before = stored_ids(api_knit)
    pushed = api.post("/api/data", params={"dry_run": "true", "tag": ["type:raw"], "name": ["a", "b"]})
    assert pushed.status_code == 200, pushed.text
    assert [d["knitId"] for d in pushed.json()["data"]] == ["(new data 1)", "(new data 2)"]
    assert pushed.json()["runs"]["count"] == 2 and stored_ids(api_knit) == before and len(data.find(api_knit)) == 1
    upload(api, "type:raw")
    active = api.put(f"/api/plans/{plan_id}/active", params={"dry_run": "true"})
    assert active.status_code == 200 and active.json()["changed"]["count"] == 1, active.text
    assert {r["status"] for r in runs.find(api_knit, plan_ids=[plan_id])} == {"deactivated"}
    assert api.delete(f"/api/plans/{plan_id}/active", params={"dry_run": "true"}).json()["changed"]["count"] == 0
    assert api.put("/api/plans/nope/active", params={"dry_run": "true"}).status_code == 404
