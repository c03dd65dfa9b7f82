"""``DELETE /knit/api/data/{id}``: purge (Knitfab 2.0); a purged Data's download is a 410 naming it."""

from __future__ import annotations

import pytest
from api_helpers import stored_ids, tar_bytes

from knit_provider.service import data, plans, runs

pytestmark = pytest.mark.compat


def upload(api, *tags: str) -> str:
    reply = api.post("/api/data", params={"tag": list(tags)}, content=tar_bytes({"a.txt": "alpha"}))
    assert reply.status_code == 200, reply.text
    return reply.json()["knitId"]


def test_delete_purges_and_the_download_is_gone(api, api_knit):
    knit_id = upload(api, "k:v")
    reply = api.delete(f"/api/data/{knit_id}")
    assert reply.status_code == 200, reply.text
    assert "knit#transient:purged" in reply.json()["tags"] and reply.json() == data.show(api_knit, knit_id)
    assert knit_id not in stored_ids(api_knit)
    download = api.get(f"/api/data/{knit_id}")
    assert download.status_code == 410
    assert download.json() == {
        "message": f"data {knit_id} was purged (knit data purge): its content no longer exists",
        "field": None,
        "type": "Gone",
    }
    assert api.get(f"/api/data/{knit_id}/detail").status_code == 200, "the Data itself stays"
    assert [d["knitId"] for d in api.get("/api/data", params={"transient": "purged"}).json()] == [knit_id]
    assert api.delete(f"/api/data/{knit_id}").status_code == 200, "purging again changes nothing"


def test_a_blocked_purge_is_a_409_naming_the_run(api, api_knit):
    plans.apply(api_knit, "image: x/y:1\ninputs: [{path: /in/a, tags: ['type:raw']}]\n")
    knit_id = upload(api, "type:raw")
    (run,) = runs.find(api_knit, input_ids=[knit_id])
    reply = api.delete(f"/api/data/{knit_id}")
    assert reply.status_code == 409 and run["runId"] in reply.json()["message"], reply.text
    assert knit_id in stored_ids(api_knit)
    assert api.delete("/api/data/no-such-id").status_code == 404
