"""Graph use cases: Data lineage (``knit data lineage``), the plan graph (``knit plan graph``), rendering.

Both traversals follow Knitfab's CLI step for step (so the same nodes, in the same order, with the same edges),
but read the catalog level by level: one ``run_details`` and one ``data_details`` (or one ``plan_details``)
call per level, all inside one read transaction, instead of one request per node.

- Upstream, per level: each Data -> the Run that made it -> that Run's other outputs and log (drawn, not
  followed) and its inputs (the next level).
- Downstream, per level: each Data -> the Runs consuming it -> their other inputs (drawn, not followed), their
  outputs and log (the next level).
- ``depth`` counts Data hops (Plan hops for the plan graph); ``None`` means no limit. Neither direction given
  means both, upstream first, as Knitfab does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from sqlalchemy import Connection

from knit_provider.catalog.engine import read_tx
from knit_provider.catalog.models import UPLOAD_PLAN_ID
from knit_provider.catalog.plan_views import plan_details
from knit_provider.catalog.views import data_details, run_details
from knit_provider.core.errors import InvalidInput, NotFound
from knit_provider.core.graphs import DataNode, Graph, PlanNode, RunNode
from knit_provider.service.context import Knit

__all__ = ["DEFAULT_DEPTH", "lineage", "plan_graph", "render", "to_json"]

DEFAULT_DEPTH = 3
FORMATS = ("svg", "png")


def _check_depth(depth: int | None) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise InvalidInput(f"must be a positive integer or all, got {depth!r}", field="depth")


def _unique(ids: Iterable[str | None]) -> list[str]:
    return [i for i in dict.fromkeys(ids) if i is not None]


class _LineageTracer:
    """Fetches Data and Runs in batches and adds them to the graph in Knitfab's order."""

    def __init__(self, conn: Connection, graph: Graph, max_nodes: int | None = None) -> None:
        self.conn = conn
        self.graph = graph
        self.max_nodes = max_nodes
        self.data: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}

    def going_on(self, frontier: list, level: int, depth: int | None) -> bool:
        """Whether to trace one more level: within the depth, and (with ``max_nodes``) under the node budget; a
        trace stopped by the budget marks the graph ``truncated``."""
        if not frontier or (depth is not None and level >= depth):
            return False
        if self.max_nodes is not None and self.graph.node_count >= self.max_nodes:
            self.graph.truncated = True
            return False
        return True

    def fetch_data(self, ids: Iterable[str]) -> None:
        missing = [i for i in _unique(ids) if i not in self.data and i not in self.graph.data]
        if missing:
            self.data.update((d["knitId"], d) for d in data_details(self.conn, missing))

    def fetch_runs(self, ids: Iterable[str]) -> None:
        missing = [i for i in _unique(ids) if i not in self.runs and i not in self.graph.runs]
        if missing:
            self.runs.update((r["runId"], r) for r in run_details(self.conn, missing))

    def fetch_data_of_runs(self, run_ids: Iterable[str]) -> None:
        ids: list[str] = []
        for run_id in run_ids:
            run = self.runs.get(run_id)
            if run is None:
                continue
            ids += [a["knitId"] for a in run["inputs"]] + [a["knitId"] for a in run["outputs"]]
            if run["log"]:
                ids.append(run["log"]["knitId"])
        self.fetch_data(ids)

    def add_data(self, knit_id: str, *, emphasize: bool = False) -> bool:
        """Put a fetched Data in the graph; False when it does not exist."""
        if knit_id in self.graph.data:
            return True
        detail = self.data.get(knit_id)
        if detail is None:
            return False
        self.graph.add_data(DataNode.from_detail(detail, emphasize=emphasize))
        return True

    def add_run(self, run_id: str) -> dict | None:
        """Put a fetched Run in the graph and return its detail; None when it is there already or missing."""
        if run_id in self.graph.runs or run_id not in self.runs:
            return None
        detail = self.runs[run_id]
        self.graph.add_run(RunNode.from_detail(detail))
        return detail

    def enter(self, frontier: list[str], level: int) -> None:
        self.fetch_data(frontier)
        for knit_id in frontier:
            self.add_data(knit_id, emphasize=level == 0)

    def upstream(self, start: str, depth: int | None) -> None:
        frontier, level = [start], 0
        while self.going_on(frontier, level, depth):
            self.enter(frontier, level)
            nodes = [self.graph.data[k] for k in frontier if k in self.graph.data]
            run_ids = _unique(n.upstream_run for n in nodes)
            self.fetch_runs(run_ids)
            self.fetch_data_of_runs(run_ids)
            following: list[str] = []
            for node in nodes:
                run = self.add_run(node.upstream_run) if node.upstream_run else None
                if run is None:
                    continue
                for out in run["outputs"]:
                    self.add_data(out["knitId"])
                if run["log"]:
                    self.add_data(run["log"]["knitId"])
                following += [a["knitId"] for a in run["inputs"] if self.add_data(a["knitId"])]
            frontier, level = _unique(following), level + 1

    def downstream(self, start: str, depth: int | None) -> None:
        frontier, level = [start], 0
        while self.going_on(frontier, level, depth):
            self.enter(frontier, level)
            nodes = [self.graph.data[k] for k in frontier if k in self.graph.data]
            run_ids = _unique(r for n in nodes for r, _ in n.downstreams)
            self.fetch_runs(run_ids)
            self.fetch_data_of_runs(run_ids)
            following: list[str] = []
            for node in nodes:
                for run_id, _ in node.downstreams:
                    run = self.add_run(run_id)
                    if run is None:
                        continue
                    for a in run["inputs"]:
                        self.add_data(a["knitId"])
                    following += [a["knitId"] for a in run["outputs"] if self.add_data(a["knitId"])]
                    if run["log"] and self.add_data(run["log"]["knitId"]):
                        following.append(run["log"]["knitId"])
            frontier, level = _unique(following), level + 1


def lineage(
    knit: Knit,
    knit_id: str,
    *,
    upstream: bool = False,
    downstream: bool = False,
    depth: int | None = DEFAULT_DEPTH,
    max_nodes: int | None = None,
) -> Graph:
    """The lineage graph around one Data (``knit data lineage [-u] [-d] [-n N|all] KNIT_ID``). With ``max_nodes``
    (the pages' server-side limit) no further level is traced once the graph has that many nodes
    (``graph.truncated``)."""
    _check_depth(depth)
    if not upstream and not downstream:
        upstream = downstream = True
    graph = Graph()
    with read_tx(knit.engine) as conn:
        tracer = _LineageTracer(conn, graph, max_nodes)
        tracer.fetch_data([knit_id])
        if knit_id not in tracer.data:
            raise NotFound(f"data not found: {knit_id}")
        if upstream:
            tracer.upstream(knit_id, depth)
        if downstream:
            tracer.downstream(knit_id, depth)
    return graph


def _upstream_plans(plan: dict) -> list[str]:
    return [u["plan"]["planId"] for i in plan["inputs"] for u in i["upstreams"]]


def _downstream_plans(plan: dict) -> list[str]:
    ids = [d["plan"]["planId"] for o in plan["outputs"] for d in o["downstreams"]]
    if plan.get("log"):
        ids += [d["plan"]["planId"] for d in plan["log"]["downstreams"]]
    return ids


def _trace_plans(
    conn: Connection,
    graph: Graph,
    start: dict,
    depth: int | None,
    following: Callable[[dict], list[str]],
    max_nodes: int | None = None,
) -> None:
    leaves, level = [start], 0
    while leaves and (depth is None or level < depth):
        if max_nodes is not None and graph.node_count >= max_nodes:
            graph.truncated = True
            return
        wanted = [p for p in _unique(p for leaf in leaves for p in following(leaf)) if p not in graph.plans]
        fetched = {p["planId"]: p for p in plan_details(conn, wanted)} if wanted else {}
        new_leaves = []
        for leaf in leaves:
            for plan_id in following(leaf):
                if plan_id in graph.plans or plan_id not in fetched:
                    continue
                graph.add_plan(PlanNode.from_detail(fetched[plan_id]))
                new_leaves.append(fetched[plan_id])
        leaves, level = new_leaves, level + 1


def plan_graph(
    knit: Knit,
    plan_id: str,
    *,
    upstream: bool = False,
    downstream: bool = False,
    depth: int | None = DEFAULT_DEPTH,
    max_nodes: int | None = None,
) -> Graph:
    """The plan graph around one Plan (``knit plan graph [-u] [-d] [-n N|all] PLAN_ID``); ``max_nodes`` as for
    ``lineage``."""
    _check_depth(depth)
    if not upstream and not downstream:
        upstream = downstream = True
    graph = Graph()
    with read_tx(knit.engine) as conn:
        found = plan_details(conn, [plan_id]) if plan_id != UPLOAD_PLAN_ID else []
        if not found:
            raise NotFound(f"plan not found: {plan_id}")
        start = found[0]
        graph.add_plan(PlanNode.from_detail(start, emphasize=True))
        if upstream:
            _trace_plans(conn, graph, start, depth, _upstream_plans, max_nodes)
        if downstream:
            _trace_plans(conn, graph, start, depth, _downstream_plans, max_nodes)
    return graph


def render(graph_dot: str | Graph, fmt: Literal["svg", "png"] = "svg") -> bytes:
    """Lay the DOT text out with Graphviz's ``dot`` (Debian package ``graphviz``) as SVG or PNG bytes."""
    import graphviz

    if fmt not in FORMATS:
        raise InvalidInput(f"unknown graph format {fmt!r} (svg or png)", field="format")
    text = graph_dot.to_dot() if isinstance(graph_dot, Graph) else graph_dot
    try:
        return graphviz.Source(text).pipe(format=fmt, encoding=None)
    except graphviz.ExecutableNotFound as err:
        raise RuntimeError("Graphviz's dot program was not found: install the graphviz package") from err


def _endpoint(node_id: str) -> dict[str, str]:
    """``p<planId>@<port>`` (a Plan's input, output or log point) as node and port; other ids as they are."""
    if node_id.startswith("p") and "@" in node_id:
        node, _, port = node_id.partition("@")
        return {"node": node, "port": port}
    return {"node": node_id}


def to_json(graph: Graph) -> dict:
    """The graph as JSON for programs (the REST API, interactive pages): nodes by kind with the ids the DOT
    text uses, and edges (a plan graph's edges also name the ports they join). Texts are raw, never escaped."""
    nodes: list[dict] = []
    for d in graph.data.values():
        nodes.append({"id": d.node_id, "kind": "data", "knitId": d.knit_id, "tags": d.tags, "emphasize": d.emphasize})
    for r in graph.runs.values():
        nodes.append(
            {"id": r.node_id, "kind": "run", "runId": r.run_id, "status": r.status, "updatedAt": r.updated_at,
             "title": r.title, "emphasize": r.emphasize}
        )  # fmt: skip
    for p in graph.plans.values():
        nodes.append(
            {"id": p.node_id, "kind": "plan", "planId": p.plan_id, "title": p.title, "annotations": p.annotations,
             "inputs": p.inputs, "outputs": p.outputs, "log": p.has_log, "emphasize": p.emphasize}
        )  # fmt: skip
    for index, run_id in enumerate(graph.roots):
        nodes.append({"id": f"root#{index}", "kind": "root", "runId": run_id})
    edges = []
    for edge in graph.edges:
        source, target = _endpoint(edge.source), _endpoint(edge.target)
        entry = {"source": source["node"], "target": target["node"], "label": edge.label}
        if "port" in source:
            entry["sourcePort"] = source["port"]
        if "port" in target:
            entry["targetPort"] = target["port"]
        edges.append(entry)
    return {"nodes": nodes, "edges": edges}
