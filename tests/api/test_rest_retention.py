"""Retention through the REST API and the Retention page (route tests)."""

from __future__ import annotations

import pytest
from api_helpers import stored_ids, tar_bytes

from knit_provider.service import data, retention

pytestmark = pytest.mark.explain


def upload(api, *tags: str) -> str:
    reply = api.post("/api/data", params={"tag": list(tags)}, content=tar_bytes({"a.txt": "alpha"}))
    assert reply.status_code == 200, reply.text
    return reply.json()["knitId"]


def test_preview_then_purge(api, api_knit):
    old = upload(api, "type:model", "project:a")
    new = upload(api, "type:model", "project:a")
    where = {"tags": ["type:model"], "keep_last": 1, "per": ["project"]}
    preview = api.get("/api/retention/preview", params={"tag": ["type:model"], "keep_last": 1, "per": ["project"]})
    assert preview.status_code == 200, preview.text
    assert [d["knitId"] for d in preview.json()["data"]] == [old] and preview.json()["dryRun"] is True
    assert old in stored_ids(api_knit)
    purged = api.post("/api/retention/purge", json=where)
    assert purged.status_code == 200 and purged.json()["count"] == 1, purged.text
    assert old not in stored_ids(api_knit) and new in stored_ids(api_knit)
    assert "knit#transient:purged" in data.show(api_knit, old)["tags"]


def test_bad_selections_are_400_with_one_line(api):
    empty = api.get("/api/retention/preview")
    assert empty.status_code == 400 and "a selection of nothing would purge every Data" in empty.json()["message"]
    unknown = api.post("/api/retention/purge", json={"tags": ["a:b"], "keep": 3})
    assert unknown.status_code in (400, 422)
    bad_age = api.post("/api/retention/purge", json={"older_than": "soon"})
    assert bad_age.status_code == 400 and bad_age.json()["field"] == "older_than"


def test_policies_and_their_last_report_on_the_api_and_the_page(api, api_knit):
    (api_knit.home / "retention.yaml").write_text("- name: <b>models</b>\n  tags: [type:model]\n  keep_last: 0\n")
    knit_id = upload(api, "type:model")
    overview = api.get("/api/retention").json()
    assert overview["policies"][0]["name"] == "<b>models</b>" and overview["reports"] == {}
    html = api.get("/retention").text
    assert "not applied yet" in html and "&lt;b&gt;models&lt;/b&gt;" in html and "<b>models</b>" not in html
    retention.apply_policies(api_knit, retention.load_policies(api_knit))
    html = api.get("/retention").text
    assert f"/knit/data/{knit_id}" in html and 'class="count">1<' in html
    (api_knit.home / "retention.yaml").write_text("- tags: [a:b]\n")
    broken = api.get("/retention")
    assert broken.status_code == 200 and "policy 1: needs a name" in broken.text
