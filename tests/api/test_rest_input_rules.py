"""The REST API refuses what ``knit`` refuses, with a small 400 and the same one-line message (issues 19 and 12).

Query tags are checked on both catalog backends: a NUL once reached PostgreSQL (a ``DataError`` and a 500) while
SQLite stored it.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import tar_bytes
from fastapi.testclient import TestClient

from knit_provider.service import Knit, data, plans

PLAN = """\
image: repo/train:1.0
inputs:
  - path: /in/dataset
    tags: ["type:dataset"]
"""

ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [{','.join(['*' + chr(ord('a') + i - 1)] * 9)}]\n"
        for i in range(1, 9)
    )
    + "image: *i\ninputs: []\n"
)


@pytest.fixture
def rules_api(knit_app, catalog_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Knit]]:
    """The Knit app on a fresh catalog of each backend (``catalog_url`` is parametrized by backend)."""
    from knit_provider.api.knit import knit as catalog

    app = knit_app.routes[-1].app
    with Knit.open(url=catalog_url, home=tmp_path / "home") as knit:
        app.dependency_overrides[catalog] = lambda: knit
        try:
            with TestClient(knit_app, base_url="http://testserver/knit") as client:
                yield client, knit
        finally:
            del app.dependency_overrides[catalog]


def small_400(reply, *fragments: str, kind: str = "InvalidInput") -> dict:
    assert reply.status_code == 400, reply.text[:2000]
    assert len(reply.content) < 1024, len(reply.content)
    body = reply.json()
    assert body["type"] == kind and "\n" not in body["message"], body
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body)
    return body


def apply(client, text: str, content_type: str = "application/yaml"):
    return client.post("/api/plans", content=text.encode(), headers={"Content-Type": content_type})


# ---- issue 19 --------------------------------------------------------------------------------------------------


@pytest.mark.reliability
def test_an_alias_bomb_is_a_small_400_without_expanding(api, api_knit) -> None:
    tracemalloc.start()
    try:
        reply = apply(api, ALIAS_BOMB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    small_400(reply, "plan:", "aliases expand")
    assert peak < 32 * 2**20, f"the request allocated {peak / 2**20:.0f} MiB at its peak"
    assert plans.find(api_knit) == []


@pytest.mark.reliability
def test_huge_values_are_quoted_cut_short(api) -> None:
    body = {"image": "x" * 900_000, "inputs": [{"path": "/in/x", "tags": ["a:b"]}]}
    small_400(apply(api, json.dumps(body), "application/json"), "image: image 'xxx")


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("text", "content_type"),
    [
        ("[" * 100_000 + "]" * 100_000, "application/json"),
        ('{"image": ' + "[" * 200 + "]" * 200 + "}", "application/json"),
        ("[" * 100_000, "application/yaml"),
        ("image: " + "{a: " * 500, "application/yaml"),
    ],
    ids=["json-100000", "json-200", "yaml-flow", "yaml-mappings"],
)
def test_deep_nesting_is_a_400(api, text: str, content_type: str) -> None:
    small_400(apply(api, text, content_type), "plan")


@pytest.mark.reliability
def test_deep_json_in_other_bodies_is_not_a_500(api, api_knit, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    knit_id = data.push_dir(api_knit, tmp_path / "d", ["a:1"])["knitId"]
    reply = api.put(f"/api/data/{knit_id}", content=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert 400 <= reply.status_code < 500 and len(reply.content) < 1024, reply.text[:500]


@pytest.mark.reliability
@pytest.mark.parametrize("bad", ["a:b\0c", "a\0:b", "a:b\nc", "a:b\tc"])
def test_control_characters_in_query_tags_are_a_400_on_both_backends(rules_api, bad: str) -> None:
    client, knit = rules_api
    small_400(client.get("/api/data", params={"tag": bad}), "tag[0]", "control character")
    small_400(client.get("/api/plans", params={"in_tag": bad}), "in-tag", "control character")
    small_400(client.get("/api/plans", params={"out_tag": bad}), "out-tag", "control character")
    upload = client.post("/api/data", params={"tag": bad}, content=tar_bytes({"f.txt": "x"}))
    small_400(upload, "control character")
    assert data.find(knit) == []


@pytest.mark.reliability
def test_nul_in_tag_edits_and_plans_is_a_400_on_both_backends(rules_api, tmp_path: Path) -> None:
    client, knit = rules_api
    (tmp_path / "d").mkdir()
    knit_id = data.push_dir(knit, tmp_path / "d", ["a:1"])["knitId"]
    small_400(client.put(f"/api/data/{knit_id}", json={"add": ["b:x\0y"]}), "add[0]", "U+0000")
    small_400(client.put(f"/api/data/{knit_id}", json={"remove_key": ["a\0"]}), "U+0000")
    body = {"image": "repo/x:1", "inputs": [{"path": "/in/x", "tags": ["type:a\0b"]}]}
    small_400(apply(client, json.dumps(body), "application/json"), "inputs[0].tags[0]", "U+0000")
    body = {"image": "repo/x:1", "inputs": [{"path": "/in/x", "tags": ["t:a"]}], "annotations": ["k=a\0b"]}
    small_400(apply(client, json.dumps(body), "application/json"), "annotations[0]", "U+0000")
    for path in ("/api/runs/a%00b", "/api/data/a%00b/detail", "/api/plans/a%00b"):
        small_400(client.get(path), "NUL")
    small_400(client.get("/api/runs", params={"plan": "a\0b"}), "NUL")
    assert [t for t in data.show(knit, knit_id)["tags"] if not t.startswith("knit#")] == ["a:1"]


# ---- issue 12 --------------------------------------------------------------------------------------------------


@pytest.mark.compat
def test_plan_find_by_pins(api, api_knit, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    pushed = data.push_dir(api_knit, tmp_path / "d", ["type:dataset"])
    pinned = plans.apply(api_knit, PLAN + f'    path: /in/p\n    tags: ["knit#id:{pushed["knitId"]}"]\n'.replace(
        "    path", "  - path", 1))["planId"]  # fmt: skip
    found = api.get("/api/plans", params={"in_tag": f"knit#id:{pushed['knitId']}"})
    assert found.status_code == 200 and [p["planId"] for p in found.json()] == [pinned]


@pytest.mark.compat
@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/api/runs", {"status": "invalidated"}, "'invalidated'"),
        ("/api/runs", {"status": "waiting,bogus"}, "'bogus'"),
        ("/api/runs", {"duration": "1h"}, "--duration needs --since"),
        ("/api/data", {"duration": "1h"}, "--duration needs --since"),
        ("/api/plans", {"image": ":v1.0"}, "names no repository"),
        ("/api/plans", {"active": "maybe"}, "--active"),
    ],
)
def test_usage_errors_are_400s_of_type_usage_error(api, path: str, params: dict, fragment: str) -> None:
    small_400(api.get(path, params=params), fragment, kind="UsageError")


@pytest.mark.compat
def test_since_takes_knitfabs_loose_form(api) -> None:
    for since in ("2020-01-01", "2020-01-01T10", "2020-01-01 10:20", "2020-01-01T10:20:30+09:00"):
        assert api.get("/api/data", params={"since": since}).status_code == 200, since
        assert api.get("/api/runs", params={"since": since, "duration": "1h"}).status_code == 200, since


@pytest.mark.reliability
def test_a_malformed_body_is_not_echoed_back_whole(api, api_knit) -> None:
    plan_id = plans.apply(api_knit, PLAN)["planId"]
    reply = api.put(f"/api/plans/{plan_id}/annotations", json={"add": "x" * 1_000_000})
    assert reply.status_code == 422 and len(reply.content) < 4096, len(reply.content)
    assert reply.json()["message"].startswith("add: ")
