"""Lineage and plan graphs read from a real catalog (SQLite and PostgreSQL), and rendered by Graphviz."""

from __future__ import annotations

import shutil

import pytest
from knit_dev import lifecycle

from knit_provider.catalog.models import UPLOAD_PLAN_ID
from knit_provider.core.errors import InvalidInput, NotFound
from knit_provider.service import data, plans, runs
from knit_provider.service.graphs import lineage, plan_graph, render

PLAN_A = (
    "image: r/a:v1\ninputs: [{path: /in, tags: ['t:raw']}]\noutputs: [{path: /out, tags: ['t:mid']}]\n"
    "log: {tags: ['t:log']}\nannotations: ['owner=<team & co>']\n"
)
PLAN_B = "image: r/b:v1\ninputs: [{path: /in, tags: ['t:mid']}]\noutputs: [{path: /out, tags: ['t:end']}]\n"
PLAN_C = "image: r/c:v1\ninputs: [{path: /in/end, tags: ['t:end']}]\noutputs: [{path: /out, tags: ['t:fin']}]\n"
PLAN_L = "image: r/l:v1\ninputs: [{path: /in/log, tags: ['t:log']}]\noutputs: [{path: /out, tags: ['t:logsum']}]\n"


def run_to_done(knit, run_id: str) -> dict:
    return lifecycle.finish(knit, run_id, exit_code=0)


@pytest.fixture
def chain(knit, make_dir):
    """upload -> raw -> Run A (done) -> mid (+ log) -> Run B (waiting) -> end."""
    a = plans.apply(knit, PLAN_A)["planId"]
    b = plans.apply(knit, PLAN_B)["planId"]
    raw = data.push_dir(knit, make_dir(), ["t:raw", "日本語:データ", 'q:"<x>"&{y}|z'])
    (run_a,) = runs.find(knit, plan_ids=[a])
    run_a = run_to_done(knit, run_a["runId"])
    (run_b,) = runs.find(knit, plan_ids=[b])
    return {
        "a": a,
        "b": b,
        "raw": raw["knitId"],
        "upload": raw["upstream"]["run"]["runId"],
        "run_a": run_a["runId"],
        "mid": run_a["outputs"][0]["knitId"],
        "log": run_a["log"]["knitId"],
        "run_b": run_b["runId"],
        "end": run_b["outputs"][0]["knitId"],
    }


def nodes(graph) -> tuple[set[str], set[str]]:
    return set(graph.data), set(graph.runs)


def names(chain: dict, *keys: str) -> set[str]:
    return {chain[k] for k in keys}


def test_full_lineage_from_the_middle(knit, chain) -> None:
    graph = lineage(knit, chain["mid"], depth=None)
    assert nodes(graph) == (names(chain, "raw", "mid", "log", "end"), names(chain, "upload", "run_a", "run_b"))
    assert graph.roots == [chain["upload"]]
    assert [d for d, n in graph.data.items() if n.emphasize] == [chain["mid"]]
    edges = {(e.source, e.target, e.label) for e in graph.edges}
    c = chain
    assert edges == {
        ("r" + c["upload"], "d" + c["raw"], "/upload"),
        ("root#0", "r" + c["upload"], ""),
        ("d" + c["raw"], "r" + c["run_a"], "/in"),
        ("r" + c["run_a"], "d" + c["mid"], "/out"),
        ("r" + c["run_a"], "d" + c["log"], "(log)"),
        ("d" + c["mid"], "r" + c["run_b"], "/in"),
        ("r" + c["run_b"], "d" + c["end"], "/out"),
    }
    assert len(graph.edges) == len(edges)


def test_downstream_depth_limits(knit, chain) -> None:
    one = lineage(knit, chain["raw"], downstream=True, depth=1)
    assert nodes(one) == (names(chain, "raw", "mid", "log"), names(chain, "run_a"))
    assert one.roots == []
    two = lineage(knit, chain["raw"], downstream=True, depth=2)
    assert nodes(two) == (names(chain, "raw", "mid", "log", "end"), names(chain, "run_a", "run_b"))
    assert nodes(lineage(knit, chain["raw"], downstream=True, depth=None)) == nodes(two)
    assert nodes(lineage(knit, chain["log"], downstream=True, depth=None)) == ({chain["log"]}, set())


def test_upstream_depth_limits_draw_the_other_outputs(knit, chain) -> None:
    one = lineage(knit, chain["end"], upstream=True, depth=1)
    assert nodes(one) == (names(chain, "end", "mid"), names(chain, "run_b"))
    two = lineage(knit, chain["end"], upstream=True, depth=2)
    assert nodes(two) == (names(chain, "end", "mid", "raw", "log"), names(chain, "run_b", "run_a"))
    assert two.roots == []
    three = lineage(knit, chain["end"], upstream=True, depth=3)
    assert nodes(three) == (names(chain, "end", "mid", "raw", "log"), names(chain, "run_b", "run_a", "upload"))
    assert three.roots == [chain["upload"]]
    from_log = lineage(knit, chain["log"], upstream=True, depth=None)
    assert nodes(from_log) == (names(chain, "log", "mid", "raw"), names(chain, "run_a", "upload"))


def test_default_is_both_directions_three_levels(knit, chain) -> None:
    both = lineage(knit, chain["raw"])
    assert nodes(both) == (names(chain, "raw", "mid", "log", "end"), names(chain, "upload", "run_a", "run_b"))
    explicit = lineage(knit, chain["raw"], upstream=True, downstream=True, depth=3)
    assert both.to_dot() == explicit.to_dot()


def test_lineage_dot_shows_catalog_values(knit, chain) -> None:
    dot = lineage(knit, chain["raw"], depth=None).to_dot()
    assert dot.startswith("digraph G {\n\tnode [shape=record fontsize=10]\n\tedge [fontsize=10]\n\n")
    assert f'BGCOLOR="#d4ecc6">knit#id: {chain["raw"]}</TD>' in dot
    assert "<B>日本語</B>:データ" in dot
    assert "<B>q</B>:&quot;&lt;x&gt;&quot;&amp;&#123;y&#125;&#124;z" in dot
    assert '<TD COLSPAN="3">knit#uploaded</TD>' in dot and "image = r/a:v1" in dot
    assert "knit#transient:processing" in dot  # Run B has not run yet: its output is transient
    assert "+00:00" in dot and "last updated: " in dot
    assert f'"r{chain["run_a"]}" -> "d{chain["log"]}" [label="(log)"];' in dot


def test_plan_graph(knit, chain) -> None:
    c = plans.apply(knit, PLAN_C)["planId"]
    log_plan = plans.apply(knit, PLAN_L)["planId"]
    graph = plan_graph(knit, chain["a"])
    assert list(graph.plans) == [chain["a"], chain["b"], log_plan, c]
    assert [p for p, n in graph.plans.items() if n.emphasize] == [chain["a"]]
    edges = {(e.source, e.target) for e in graph.edges}
    assert edges == {
        (f"p{chain['a']}@/out", f"p{chain['b']}@/in"),
        (f"p{chain['a']}@log", f"p{log_plan}@/in/log"),
        (f"p{chain['b']}@/out", f"p{c}@/in/end"),
    }
    assert set(plan_graph(knit, chain["a"], downstream=True, depth=1).plans) == {chain["a"], chain["b"], log_plan}
    assert set(plan_graph(knit, chain["a"], upstream=True, depth=None).plans) == {chain["a"]}
    assert list(plan_graph(knit, c, upstream=True, depth=None).plans) == [c, chain["b"], chain["a"]]
    assert set(plan_graph(knit, c, upstream=True, depth=1).plans) == {c, chain["b"]}
    dot = graph.to_dot()
    assert dot.count("\tsubgraph {\n") == 4
    assert "<B>owner</B>=&lt;team &amp; co&gt;" in dot
    assert f'\t"p{chain["a"]}@/out" -> "p{chain["b"]}@/in";\n' in dot


def test_unknown_ids_and_bad_depth(knit, chain) -> None:
    with pytest.raises(NotFound, match="data not found: nope"):
        lineage(knit, "nope")
    with pytest.raises(NotFound, match="plan not found: nope"):
        plan_graph(knit, "nope")
    with pytest.raises(NotFound):
        plan_graph(knit, UPLOAD_PLAN_ID)
    with pytest.raises(NotFound):
        lineage(knit, chain["run_a"])  # a run id is not a knit id
    for bad in (0, -1):
        with pytest.raises(InvalidInput, match="depth"):
            lineage(knit, chain["raw"], depth=bad)
        with pytest.raises(InvalidInput, match="depth"):
            plan_graph(knit, chain["a"], depth=bad)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_svg_and_png(knit, chain) -> None:
    graph = lineage(knit, chain["raw"], depth=None)
    svg = render(graph.to_dot(), "svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
    text = svg.decode("utf-8")
    assert "日本語" in text and ":データ" in text and ":&quot;&lt;x&gt;&quot;&amp;{y}|z" in text
    png = render(plan_graph(knit, chain["a"]), "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(InvalidInput, match="format"):
        render(graph.to_dot(), "gif")  # type: ignore[arg-type]
