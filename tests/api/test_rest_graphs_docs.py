"""Graphs in three formats, the OpenAPI page, the error shape, and the rule that every route checks access."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from api_helpers import tar_bytes
from fastapi.routing import APIRoute

from knit_provider.service import data, graphs, plans

EVIL = 'note:<script>alert("x")</script>&'


@pytest.fixture
def chain(api_knit) -> dict:
    """Uploaded Data -> a Run of ``p1`` -> output Data, and ``p2`` fed by ``p1``."""
    p1 = plans.apply(
        api_knit,
        "image: r/one:1\ninputs: [{path: /in/a, tags: ['t:raw']}]\noutputs: [{path: /out/b, tags: ['t:mid']}]\n",
    )
    p2 = plans.apply(api_knit, "image: r/two:1\ninputs: [{path: /in/m, tags: ['t:mid']}]\n")
    pushed = data.push_tar(api_knit, io.BytesIO(tar_bytes({"a": "1"})), ["t:raw", EVIL])
    return {"p1": p1["planId"], "p2": p2["planId"], "knit_id": pushed["knitId"]}


def test_lineage_as_dot_is_the_clis_text(api, api_knit, chain):
    reply = api.get(f"/api/data/{chain['knit_id']}/lineage")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/vnd.graphviz")
    assert reply.text == graphs.lineage(api_knit, chain["knit_id"]).to_dot() + "\n"
    assert api.get(f"/api/data/{chain['knit_id']}/lineage.dot", params={"depth": "all"}).text == reply.text
    upstream_only = api.get(f"/api/data/{chain['knit_id']}/lineage", params={"upstream": "true", "depth": "1"})
    assert upstream_only.text == graphs.lineage(api_knit, chain["knit_id"], upstream=True, depth=1).to_dot() + "\n"


def test_lineage_as_json(api, chain):
    graph = api.get(f"/api/data/{chain['knit_id']}/lineage.json").json()
    kinds = sorted(n["kind"] for n in graph["nodes"])
    assert kinds == ["data", "data", "root", "run", "run"]
    start = next(n for n in graph["nodes"] if n.get("knitId") == chain["knit_id"])
    assert start["emphasize"] and EVIL in start["tags"]
    ids = {n["id"] for n in graph["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    assert {"source": start["id"], "label": "/in/a"}.items() <= next(
        e for e in graph["edges"] if e["source"] == start["id"]
    ).items()


def test_user_text_is_escaped_in_dot_and_svg(api, chain):
    dot = api.get(f"/api/data/{chain['knit_id']}/lineage.dot").text
    assert "<script>" not in dot and "&lt;script&gt;" in dot
    reply = api.get(f"/api/data/{chain['knit_id']}/lineage", params={"format": "svg"})
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/svg+xml"
    assert "script-src" not in reply.headers["content-security-policy"]
    assert reply.headers["content-security-policy"].startswith("default-src 'none'")
    assert reply.headers["x-content-type-options"] == "nosniff"
    svg = ET.fromstring(reply.content)
    assert not [e for e in svg.iter() if e.tag.rsplit("}", 1)[-1].lower() == "script"]
    texts = "".join(svg.itertext())
    assert "<script>" in texts  # the tag's text, shown as text
    assert b"<script" not in reply.content


def test_plan_graph_in_each_format(api, api_knit, chain):
    dot = api.get(f"/api/plans/{chain['p1']}/graph", params={"downstream": "true"})
    assert dot.text == graphs.plan_graph(api_knit, chain["p1"], downstream=True).to_dot() + "\n"
    graph = api.get(f"/api/plans/{chain['p1']}/graph.json").json()
    assert {n["planId"] for n in graph["nodes"]} == {chain["p1"], chain["p2"]}
    (edge,) = graph["edges"]
    assert edge == {
        "source": f"p{chain['p1']}",
        "target": f"p{chain['p2']}",
        "label": "",
        "sourcePort": "/out/b",
        "targetPort": "/in/m",
    }
    svg = api.get(f"/api/plans/{chain['p1']}/graph.svg")
    assert svg.status_code == 200 and svg.content.lstrip().startswith(b"<?xml")


def test_graph_errors(api, chain):
    assert api.get("/api/data/nope/lineage").json()["message"] == "data not found: nope"
    assert api.get("/api/plans/nope/graph.svg").status_code == 404
    bad_depth = api.get(f"/api/data/{chain['knit_id']}/lineage", params={"depth": "0"})
    assert bad_depth.status_code == 400 and bad_depth.json()["field"] == "depth"
    bad_format = api.get(f"/api/data/{chain['knit_id']}/lineage.png")
    assert bad_format.status_code == 422 and bad_format.json()["field"] == "fmt"


def test_the_openapi_page_documents_every_route(api, knit_app):
    schema = api.get("/openapi.json").json()
    docs = api.get("/docs")
    assert docs.status_code == 200 and "'/knit/openapi.json'" in docs.text  # mounted: the page finds the schema
    documented = {(path, method.upper()) for path, item in schema["paths"].items() for method in item}
    for route in rest_routes(knit_app):
        for method in route.methods:
            assert (route.path, method) in documented
            operation = schema["paths"][route.path][method.lower()]
            assert operation["summary"] and {"401", "403", "404"} <= set(operation["responses"])
    assert schema["paths"]["/api/data"]["post"]["requestBody"]["content"]["application/gzip"]
    assert "Data" in schema["components"]["schemas"] and "ErrorBody" in schema["components"]["schemas"]


def rest_routes(knit_app) -> list[APIRoute]:
    app = knit_app.routes[-1].app
    return [r for r in app.routes if isinstance(r, APIRoute) and r.path.startswith("/api/")]


def test_every_rest_route_is_authenticated_and_checks_exactly_one_access(knit_app):
    from airflow.api_fastapi.core_api.security import get_user

    from knit_provider.api.rest.common import ACCESS_CHECKS

    routes = rest_routes(knit_app)
    assert len(routes) >= 25
    for route in routes:
        calls = {d.call for d in route.dependant.dependencies}
        assert get_user in calls, route.path
        checks = [c for c in calls if c in ACCESS_CHECKS]
        assert len(checks) == 1, (route.path, route.methods, checks)
        expected_read = route.methods == {"GET"}
        assert (checks[0].__name__ == "can_read") == expected_read, (route.path, route.methods, checks)
