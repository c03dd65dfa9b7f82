"""Lineage benchmark: tracing a 10,000-node lineage to DOT, and rendering a 500-node graph to SVG.

Prints one JSON line ``{"lineage_nodes", "lineage_dot_s", "svg_nodes", "svg_render_s", "targets_met"}``.
Standalone: a SQLite catalog in a temporary directory, built through the service layer (no PostgreSQL).

The catalog is a fan-out of three Plans from one uploaded Data ``D0``:
``D0 -> Run A -> 8 Data -> 8 Runs of B -> 480 Data -> 480 Runs of C -> 9,120 Data``, i.e. 10,100 nodes with the
upload Run and its root. Runs of A and B are finished (done) so that B and C fire; Runs of C stay waiting (their
outputs exist from creation, as transient Data).

- ``lineage_dot_s``: ``lineage(D0, depth=None)`` (``knit data lineage -n all``) plus its DOT text; median of
  three after a warm-up. Target < 2 s.
- ``svg_render_s``: Graphviz ``dot`` laying out ``lineage(D0, depth=2)`` (500 nodes) as SVG. Target < 2 s.

Usage: ``python bench/lineage.py`` (a few tens of seconds).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from knit_dev import lifecycle

from knit_provider.service import Knit, data, plans, runs
from knit_provider.service.graphs import lineage, render

FAN_A, FAN_B, FAN_C = 8, 60, 19
TARGET_S = 2.0


def plan_yaml(image: str, level: int, outputs: int) -> str:
    outs = ", ".join(f"{{path: /out/{i}, tags: ['level:{level + 1}']}}" for i in range(outputs))
    return f"image: bench/{image}:v1\ninputs: [{{path: /in, tags: ['level:{level}']}}]\noutputs: [{outs}]\n"


def build(knit: Knit, workdir: Path) -> str:
    a = plans.apply(knit, plan_yaml("a", 0, FAN_A))["planId"]
    b = plans.apply(knit, plan_yaml("b", 1, FAN_B))["planId"]
    plans.apply(knit, plan_yaml("c", 2, FAN_C))
    source = workdir / "d0"
    source.mkdir()
    (source / "seed.txt").write_text("seed\n")
    start = data.push_dir(knit, source, ["level:0", "name:seed"])["knitId"]
    for plan_id in (a, b):
        for run in runs.find(knit, plan_ids=[plan_id]):
            lifecycle.finish(knit, run["runId"])
    return start


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="knit-bench-lineage-") as tmp:
        workdir = Path(tmp)
        with Knit.open(home=workdir / "home") as knit:
            build_s, start = timed(lambda: build(knit, workdir))

            def trace_and_write() -> tuple[int, str]:
                graph = lineage(knit, start, depth=None)
                return graph.node_count, graph.to_dot()

            trace_and_write()  # warm-up: SQL compilation caches, imports
            samples = [timed(trace_and_write) for _ in range(3)]
            lineage_s = statistics.median(s for s, _ in samples)
            lineage_nodes, dot_text = samples[0][1]

            small = lineage(knit, start, depth=2)
            small_dot = small.to_dot()
        render_s, svg = timed(lambda: render(small_dot, "svg"))

    result = {
        "lineage_nodes": lineage_nodes,
        "lineage_dot_s": round(lineage_s, 3),
        "svg_nodes": small.node_count,
        "svg_render_s": round(render_s, 3),
        "targets_met": lineage_nodes >= 10_000 and lineage_s < TARGET_S and render_s < TARGET_S,
    }
    print(json.dumps(result), flush=True)
    print(
        f"catalog built in {build_s:.1f}s; lineage DOT {len(dot_text) / 1e6:.1f} MB; SVG {len(svg) / 1e3:.0f} kB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
