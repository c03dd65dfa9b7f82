"""Graphs: a Data's lineage (``/api/data/{id}/lineage``) and a Plan's plan graph (``/api/plans/{id}/graph``).

As ``knit data lineage`` / ``knit plan graph`` with ``-u``, ``-d`` and ``-n`` (``upstream``, ``downstream``,
``depth``), in ``format`` dot (Knitfab's text), svg (laid out by Graphviz) or json; a suffix (``lineage.svg``)
picks the format too. User texts are escaped in DOT and SVG (they stay raw in JSON), and the SVG is served with a
policy that runs no script, as a second line of defence.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query
from fastapi.responses import JSONResponse, Response

from knit_provider.api.knit import KnitDep
from knit_provider.api.rest.common import READ, resource_router
from knit_provider.api.rest.models import GraphJson
from knit_provider.core.graphs import Graph, parse_depth
from knit_provider.service import graphs as graph_service

router = resource_router("", "graphs")

Format = Literal["dot", "svg", "json"]
SVG_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
}
GRAPH_RESPONSES = {
    200: {
        "description": "The graph",
        "content": {
            "text/vnd.graphviz": {"schema": {"type": "string"}},
            "image/svg+xml": {"schema": {"type": "string"}},
            "application/json": {"schema": GraphJson.model_json_schema()},
        },
    }
}
Upstream = Annotated[bool, Query(description="trace upstream (-u); neither direction means both")]
Downstream = Annotated[bool, Query(description="trace downstream (-d)")]
Depth = Annotated[str, Query(description="hops to follow (-n): a positive number or all")]


class Tracing:
    """``-u``, ``-d`` and ``-n`` as query parameters, shared by every graph route."""

    def __init__(self, upstream: Upstream = False, downstream: Downstream = False, depth: Depth = "3") -> None:
        self.upstream = upstream
        self.downstream = downstream
        self.depth = parse_depth(depth, field="depth")


TracingDep = Annotated[Tracing, Depends()]


def _reply(graph: Graph, fmt: Format) -> Response:
    if fmt == "json":
        return JSONResponse(graph_service.to_json(graph))
    if fmt == "svg":
        return Response(graph_service.render(graph, "svg"), media_type="image/svg+xml", headers=SVG_HEADERS)
    return Response(graph.to_dot() + "\n", media_type="text/vnd.graphviz; charset=utf-8")


def _lineage(knit: KnitDep, knit_id: str, fmt: Format, trace: Tracing) -> Response:
    graph = graph_service.lineage(
        knit, knit_id, upstream=trace.upstream, downstream=trace.downstream, depth=trace.depth
    )
    return _reply(graph, fmt)


def _plan_graph(knit: KnitDep, plan_id: str, fmt: Format, trace: Tracing) -> Response:
    graph = graph_service.plan_graph(
        knit, plan_id, upstream=trace.upstream, downstream=trace.downstream, depth=trace.depth
    )
    return _reply(graph, fmt)


@router.get("/data/{knit_id}/lineage", summary="A Data's lineage", responses=GRAPH_RESPONSES, dependencies=READ)
def data_lineage(knit_id: str, knit: KnitDep, trace: TracingDep, format: Format = "dot") -> Response:
    """``knit data lineage``: the Runs and Data a Data came from and that came from it."""
    return _lineage(knit, knit_id, format, trace)


@router.get(
    "/data/{knit_id}/lineage.{fmt}", summary="A Data's lineage (format by suffix)", responses=GRAPH_RESPONSES,
    dependencies=READ,
)  # fmt: skip
def data_lineage_as(knit_id: str, fmt: Format, knit: KnitDep, trace: TracingDep) -> Response:
    """``lineage.dot``, ``lineage.svg`` or ``lineage.json``."""
    return _lineage(knit, knit_id, fmt, trace)


@router.get("/plans/{plan_id}/graph", summary="A Plan's plan graph", responses=GRAPH_RESPONSES, dependencies=READ)
def plan_graph(plan_id: str, knit: KnitDep, trace: TracingDep, format: Format = "dot") -> Response:
    """``knit plan graph``: which Plans feed this one and which it feeds."""
    return _plan_graph(knit, plan_id, format, trace)


@router.get(
    "/plans/{plan_id}/graph.{fmt}", summary="A Plan's plan graph (format by suffix)", responses=GRAPH_RESPONSES,
    dependencies=READ,
)  # fmt: skip
def plan_graph_as(plan_id: str, fmt: Format, knit: KnitDep, trace: TracingDep) -> Response:
    """``graph.dot``, ``graph.svg`` or ``graph.json``."""
    return _plan_graph(knit, plan_id, fmt, trace)
