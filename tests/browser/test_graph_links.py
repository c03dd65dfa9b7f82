"""What the pages draw graphs with, without a browser: node hyperlinks in the DOT text (``Graph.to_dot(link=...)``),
the SVG graphviz makes of them, and the inline SVG the pages embed (escaped text, cached layouts)."""

from __future__ import annotations

import re

from knit_provider.api.pages.render import Links
from knit_provider.api.pages.svg import clear_layout_cache, inline_svg
from knit_provider.core.graphs import DataNode, Graph, PlanNode, RunNode
from knit_provider.service.graphs import render

UPLOAD = {"planId": "upload", "name": "knit#uploaded"}
SCRIPT = "<script>alert(1)</script>"


def small_lineage(tag: str = "kind:raw") -> Graph:
    graph = Graph()
    upload = {"runId": "r-1", "status": "done", "updatedAt": "t", "plan": UPLOAD, "inputs": [], "log": None}
    graph.add_run(RunNode.from_detail(upload | {"outputs": [{"knitId": "k-1", "path": "/upload"}]}))
    graph.add_data(DataNode(knit_id="k-1", tags=[tag, "knit#id:k-1"], upstream_run="r-1", upstream_label="/upload"))
    return graph


def plan_graph() -> Graph:
    graph = Graph()
    graph.add_plan(PlanNode(plan_id="p-1", title="image = repo/a:1", inputs=["/in"], outputs=["/out"]))
    return graph


def links(kind: str, ident: str) -> str:
    return f'/knit/{kind}/{ident}?q="x"\\y'


def test_without_a_link_function_the_dot_text_is_unchanged() -> None:
    for graph in (small_lineage(), plan_graph()):
        assert graph.to_dot() == graph.to_dot(link=None)
        assert "URL=" not in graph.to_dot()


def test_links_mark_data_run_and_plan_nodes_only_and_are_dot_escaped() -> None:
    dot = small_lineage().to_dot(link=links)
    assert '\t\tURL="/knit/data/k-1?q=\\"x\\"\\\\y"\n\t\ttooltip="Data k-1"\n' in dot
    assert '\t\tURL="/knit/run/r-1?q=\\"x\\"\\\\y"\n\t\ttooltip="Run r-1"\n' in dot
    assert dot.count("URL=") == 2  # the root node has none
    plan_dot = plan_graph().to_dot(link=links)
    assert plan_dot.count("URL=") == 1 and '\t\t\tURL="/knit/plan/p-1' in plan_dot  # its port points have none
    without = small_lineage().to_dot()
    assert re.sub(r"\t+URL=.*\n\t+tooltip=.*\n", "", dot) == without


def test_graphviz_draws_linked_nodes_as_svg_anchors() -> None:
    svg = render(small_lineage().to_dot(link=lambda kind, ident: f"/knit/{kind}/{ident}"), "svg").decode()
    assert '<a xlink:href="/knit/data/k-1" xlink:title="Data k&#45;1">' in svg
    assert '<a xlink:href="/knit/run/r-1" xlink:title="Run r&#45;1">' in svg


def test_inline_svg_is_bare_escaped_and_its_layout_cached() -> None:
    clear_layout_cache()
    knit_links = Links(knit_base="/knit", airflow_base="")
    first = inline_svg(small_lineage(f"evil:{SCRIPT}"), knit_links)
    text = str(first.svg)
    assert text.startswith('<svg class="graph" preserveAspectRatio="xMidYMid meet"') and "<!--" not in text
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'xlink:href="/knit/data/k-1"' in text and first.nodes == 3 and not first.cached
    again = inline_svg(small_lineage(f"evil:{SCRIPT}"), knit_links)
    assert again.cached and str(again.svg) == text
    assert not inline_svg(small_lineage("kind:other"), knit_links).cached
