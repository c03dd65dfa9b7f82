"""The pages' server-side limit on tracing: past ``max_nodes`` no further level is traced, and the graph says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from knit_provider.service import Knit, data, plans
from knit_provider.service.graphs import lineage, plan_graph

pytestmark = pytest.mark.scale


def test_tracing_stops_at_the_node_limit_and_says_so(knit: Knit, tmp_path: Path) -> None:
    outs = ", ".join(f"{{path: /out/{i}, tags: ['level:1']}}" for i in range(6))
    plan = plans.apply(knit, f"image: t/a:1\ninputs: [{{path: /in, tags: ['level:0']}}]\noutputs: [{outs}]\n")
    plans.apply(knit, "image: t/b:1\ninputs: [{path: /in, tags: ['level:1']}]\noutputs: [{path: /o, tags: ['x:y']}]\n")
    (tmp_path / "seed").mkdir()
    start = data.push_dir(knit, tmp_path / "seed", ["level:0"])["knitId"]
    whole = lineage(knit, start, depth=None)
    assert not whole.truncated
    cut = lineage(knit, start, depth=None, max_nodes=2)  # the upstream level is traced, then no more
    assert cut.truncated and 2 <= cut.node_count < whole.node_count
    assert not lineage(knit, start, depth=None, max_nodes=whole.node_count + 1).truncated
    assert plan_graph(knit, plan["planId"], depth=None, max_nodes=1).truncated
