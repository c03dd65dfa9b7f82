"""Big graphs made drawable (``core.graph_view``): repeated Runs and Data collapse into expandable groups, the
focus and the search matches are always drawn one by one, a budget keeps the nodes nearest the focus."""

from __future__ import annotations

import pytest

from knit_provider.core.graph_view import collapse
from knit_provider.core.graphs import DataNode, Graph, RunNode

pytestmark = pytest.mark.scale


def fan_out(fans: tuple[int, ...]) -> tuple[Graph, str]:
    """``D0 -> Run -> fans[0] Data -> a Run each -> fans[1] Data each ...`` (Runs of plan ``image = s<level>``)."""
    graph = Graph()
    graph.add_data(DataNode("d0", ["k:v"]))
    frontier, counter = ["d0"], 0
    for level, fan in enumerate(fans):
        following = []
        for data_id in frontier:
            counter += 1
            run_id = f"r{level}-{counter}"
            outputs = [(f"{run_id}-o{i}", f"/out/{i}") for i in range(fan)]
            graph.add_run(RunNode(run_id, "done", "t", f"image = s{level}", inputs=[(data_id, "/in")], outputs=outputs))
            for knit_id, path in outputs:
                graph.add_data(DataNode(knit_id, ["k:v"], upstream_run=run_id, upstream_label=path))
            following += [k for k, _ in outputs]
        frontier = following
    return graph, "d0"


def test_a_fan_out_collapses_to_a_chain_of_groups() -> None:
    graph, start = fan_out((8, 20, 5))
    assert graph.node_count == 1 + 1 + 8 + 8 + 160 + 160 + 800
    view = collapse(graph, "d" + start)
    kinds = sorted((len(g.members), g.kind) for g in view.groups)
    assert kinds == [(8, "d"), (8, "r"), (160, "d"), (160, "r"), (800, "d")]
    assert view.singles == {"dd0", "rr0-1"}
    assert view.shown == view.total == graph.node_count and view.cut == 0
    assert "Showing 1,138 of 1,138 nodes: 2 one by one and 1,136 in 5 collapsed groups" in view.summary()
    assert len(view.edges) == 6, "one edge between each pair of neighbouring boxes"
    dot = view.to_dot()
    assert dot.count("shape=box3d") == 5 and "800 Data" in dot and "160 Runs" in dot and "image = s1" in dot


def test_expanding_a_group_draws_its_members_and_groups_what_follows_each() -> None:
    graph, start = fan_out((8, 20, 5))
    first = collapse(graph, "d" + start)
    eight = next(g for g in first.groups if len(g.members) == 8 and g.kind == "d")
    view = collapse(graph, "d" + start, expanded=[eight.key])
    assert set(eight.members) <= view.singles
    assert sorted(len(g.members) for g in view.groups if g.kind == "d") == [20] * 8 + [100] * 8
    again = collapse(graph, "d" + start, expanded=[eight.key])
    assert [g.key for g in again.groups] == [g.key for g in view.groups], "group keys are stable"


def test_a_search_match_and_the_path_to_it_are_drawn_one_by_one() -> None:
    graph, start = fan_out((8, 20, 5))
    target = "dr2-100-o3"
    view = collapse(graph, "d" + start, find="r2-100-o3")
    assert view.matches == [target] and target in view.singles
    assert {"rr2-100", "rr0-1"} <= view.singles, "the Runs on the way from the focus"
    assert view.shown == view.total, "the others stay in groups: nothing is lost"
    assert collapse(graph, "d" + start, find="no-such-thing").matches == []


def test_the_budget_keeps_the_nearest_boxes_and_says_what_is_left_out() -> None:
    graph, start = fan_out((3, 3, 3))  # fewer than MIN_GROUP alike: nothing collapses
    view = collapse(graph, "d" + start, budget=10)
    assert view.node_count == 10 and view.cut == view.total - view.shown > 0
    assert "dd0" in view.singles
    assert "farther from the focus are left out" in view.summary()
    assert all(e.source in view.singles | {g.node_id for g in view.groups} for e in view.edges)


def test_a_deep_chain_does_not_recurse() -> None:
    graph, start = fan_out((1,) * 3000)
    view = collapse(graph, "d" + start, budget=10_000)
    assert view.shown == view.total == 6001 and not view.groups
