"""Lineage and plan graphs, and their DOT text in Knitfab's layout (``knit data lineage``, ``knit plan graph``).

The model mirrors Knitfab's ``knitgraph.DirectedGraph``: nodes are added one by one (Data, Runs, Plans) and an
edge appears the moment both of its ends are in the graph, so edges come out in the order Knitfab writes them.
A Run without inputs (an upload) gets a ``root#N`` node in front of it.

Beyond Knitfab: every text a user wrote (tags, paths, images, annotations) is escaped for where it lands, HTML
inside ``label=<...>`` (including ``{ } |``) and DOT inside quoted strings; timestamps are printed as the catalog
gives them (UTC ``+00:00``), not converted to the local zone. Given a ``link`` function, ``to_dot`` also makes
every Data, Run and Plan node a hyperlink (``URL``/``tooltip``, an ``<a>`` in SVG) for the web pages; without
one the text is Knitfab's, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from knit_provider.core.errors import InvalidInput, shown

KEY_ID = "knit#id"
KEY_TIMESTAMP = "knit#timestamp"
KEY_TRANSIENT = "knit#transient"
TRANSIENT_PURGED = "purged"
LOG_LABEL = "(log)"
LOG_PORT = "log"

DATA_COLOR = "#1c9930"
DATA_EMPHASIS = "#d4ecc6"
PURGED_COLOR = "#808080"  # a purged Data (Knitfab 2.0): its bytes are gone, its lineage stays
RUN_COLOR = "#FFA500"
RUN_EMPHASIS = "#FFD580"
PLAN_COLOR = "#DAA520"
PLAN_EMPHASIS = "#EDD9B4"
PLAIN = "#FFFFFF"

HEADER = "digraph G {\n\tnode [shape=record fontsize=10]\n\tedge [fontsize=10]\n\n"
FOOTER = "\n}"

_STATUS_COLORS = {
    "deactivated": "gray",
    "completing": "#007700",
    "done": "#007700",
    "aborting": "red",
    "failed": "red",
}

# HTML-like labels are XML to Graphviz: escape markup, keep { } | inert, and keep control characters out
# (XML 1.0 forbids most of them even as character references).
_HTML = {
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    ord('"'): "&quot;",
    ord("'"): "&#39;",
    ord("{"): "&#123;",
    ord("}"): "&#125;",
    ord("|"): "&#124;",
    ord("\t"): "&#9;",
    ord("\n"): "&#10;",
    ord("\r"): "&#13;",
}
_HTML.update({c: "\ufffd" for c in range(0x20) if c not in _HTML})
# Inside a DOT quoted string only ``"`` is special to the parser; ``\`` starts escapes in labels.
_QUOTED = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r"}


def html_escape(text: str) -> str:
    """Text made safe inside an HTML-like label; non-ASCII passes through unchanged."""
    return text.translate(_HTML)


def dot_escape(text: str) -> str:
    """Text made safe between the double quotes of a DOT id or attribute."""
    return text.translate(_QUOTED)


#: ``link(kind, id)`` with kind ``data``, ``run`` or ``plan``: the URL that node should open, or None for none.
NodeLink = Callable[[str, str], str | None]


def _link_lines(url: str | None, tooltip: str, indent: str) -> str:
    """``URL`` and ``tooltip`` attribute lines (graphviz draws the node inside an SVG ``<a>``); none without a URL."""
    if not url:
        return ""
    return f'{indent}URL="{dot_escape(url)}"\n{indent}tooltip="{dot_escape(tooltip)}"\n'


def _title(plan: Mapping) -> str:
    """``image = repo:tag`` for an image plan, else the pseudo plan's name (``knit#uploaded``)."""
    if plan.get("image"):
        return f"image = {plan['image']}"
    return plan.get("name") or ""


@dataclass(frozen=True, slots=True)
class Edge:
    source: str  # node ids without quotes, e.g. ``d<knitId>``, ``r<runId>``, ``root#0``, ``p<planId>@/in``
    target: str
    label: str = ""


@dataclass(slots=True)
class DataNode:
    knit_id: str
    tags: list[str]  # ``key:value`` as the API gives them (system tags included)
    upstream_run: str | None = None
    upstream_label: str = ""  # the output path, or ``(log)``
    downstreams: list[tuple[str, str]] = field(default_factory=list)  # (run id, input path)
    emphasize: bool = False

    @property
    def node_id(self) -> str:
        return "d" + self.knit_id

    @classmethod
    def from_detail(cls, detail: Mapping, *, emphasize: bool = False) -> DataNode:
        """From Knitfab's Data JSON (``{knitId, tags, upstream, downstreams, ...}``)."""
        upstream = detail.get("upstream") or {}
        label = LOG_LABEL if "log" in upstream else (upstream.get("mountpoint") or {}).get("path") or ""
        return cls(
            knit_id=detail["knitId"],
            tags=list(detail.get("tags") or []),
            upstream_run=(upstream.get("run") or {}).get("runId"),
            upstream_label=label,
            downstreams=[(d["run"]["runId"], d["mountpoint"]["path"]) for d in detail.get("downstreams") or []],
            emphasize=emphasize,
        )

    def write(self, out: list[str], url: str | None = None) -> None:
        system: list[str] = []
        user: list[str] = []
        for tag in self.tags:
            key, _, value = tag.partition(":")
            if key == KEY_TIMESTAMP:
                system.append(html_escape(value))
            elif key == KEY_TRANSIENT:
                system.append(html_escape(tag))
            elif key != KEY_ID:
                user.append(f"<B>{html_escape(key)}</B>:{html_escape(value)}")
        purged = f"{KEY_TRANSIENT}:{TRANSIENT_PURGED}" in self.tags
        color, title = (PURGED_COLOR, "Data (purged)") if purged else (DATA_COLOR, "Data")
        link = _link_lines(url, f"Data {self.knit_id}{' (purged)' if purged else ''}", "\t\t")
        subheader = f'<TR><TD COLSPAN="2"><FONT POINT-SIZE="8">{" | ".join(system)}</FONT></TD></TR>' if system else ""
        out.append(
            f'\t"{dot_escape(self.node_id)}"[\n'
            "\t\tshape=none\n"
            f'\t\tcolor="{color}"\n'
            f"{link}"
            "\t\tlabel=<\n"
            '\t\t\t<TABLE CELLSPACING="0">\n'
            f'\t\t\t\t<TR><TD BGCOLOR="{color}"><FONT COLOR="#FFFFFF"><B>{title}</B></FONT></TD>'
            f'<TD BGCOLOR="{DATA_EMPHASIS if self.emphasize else PLAIN}">'
            f"knit#id: {html_escape(self.knit_id)}</TD></TR>\n"
            f"\t\t\t\t{subheader}\n"
            f'\t\t\t\t<TR><TD COLSPAN="2">{"<BR/>".join(user)}</TD></TR>\n'
            "\t\t\t</TABLE>\n"
            "\t\t>\n"
            "\t];\n"
        )


@dataclass(slots=True)
class RunNode:
    run_id: str
    status: str
    updated_at: str
    title: str  # ``image = repo:tag`` or the pseudo plan name
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (knit id, path)
    outputs: list[tuple[str, str]] = field(default_factory=list)  # (knit id, path)
    log: str | None = None  # knit id of the log Data
    emphasize: bool = False

    @property
    def node_id(self) -> str:
        return "r" + self.run_id

    @classmethod
    def from_detail(cls, detail: Mapping, *, emphasize: bool = False) -> RunNode:
        """From Knitfab's Run JSON (``{runId, status, updatedAt, plan, inputs, outputs, log}``)."""
        log = detail.get("log")
        return cls(
            run_id=detail["runId"],
            status=detail.get("status", ""),
            updated_at=detail.get("updatedAt", ""),
            title=_title(detail.get("plan") or {}),
            inputs=[(a["knitId"], a["path"]) for a in detail.get("inputs") or []],
            outputs=[(a["knitId"], a["path"]) for a in detail.get("outputs") or []],
            log=log["knitId"] if log else None,
            emphasize=emphasize,
        )

    def write(self, out: list[str], url: str | None = None) -> None:
        status = html_escape(self.status)
        color = _STATUS_COLORS.get(self.status)
        if color:
            status = f'<FONT COLOR="{color}"><B>{status}</B></FONT>'
        link = _link_lines(url, f"Run {self.run_id}", "\t\t")
        out.append(
            f'\t"{dot_escape(self.node_id)}"[\n'
            "\t\tshape=none\n"
            f'\t\tcolor="{RUN_COLOR}"\n'
            f"{link}"
            "\t\tlabel=<\n"
            '\t\t\t<TABLE CELLSPACING="0">\n'
            f'\t\t\t\t<TR><TD BGCOLOR="{RUN_COLOR}"><FONT COLOR="#FFFFFF"><B>Run</B></FONT></TD><TD>{status}</TD>'
            f'<TD BGCOLOR="{RUN_EMPHASIS if self.emphasize else PLAIN}">id: {html_escape(self.run_id)}</TD></TR>\n'
            f'\t\t\t\t<TR><TD COLSPAN="3"><FONT POINT-SIZE="8">last updated: {html_escape(self.updated_at)}</FONT>'
            "</TD></TR>\n"
            f'\t\t\t\t<TR><TD COLSPAN="3">{html_escape(self.title)}</TD></TR>\n'
            "\t\t\t</TABLE>\n"
            "\t\t>\n"
            "\t];\n"
        )


@dataclass(slots=True)
class PlanNode:
    plan_id: str
    title: str
    annotations: list[str] = field(default_factory=list)  # ``key=value``
    inputs: list[str] = field(default_factory=list)  # paths
    outputs: list[str] = field(default_factory=list)  # paths
    has_log: bool = False
    upstreams: list[tuple[str, str, str]] = field(default_factory=list)  # (input path, plan id, port)
    downstreams: list[tuple[str, str, str]] = field(default_factory=list)  # (port, plan id, input path)
    emphasize: bool = False

    @property
    def node_id(self) -> str:
        return "p" + self.plan_id

    def port_id(self, port: str) -> str:
        """``p<planId>@<path>`` for an input or output, ``p<planId>@log`` for the log."""
        return f"p{self.plan_id}@{port}"

    @classmethod
    def from_detail(cls, detail: Mapping, *, emphasize: bool = False) -> PlanNode:
        """From Knitfab's Plan JSON (v1.5+, with ``upstreams`` / ``downstreams``)."""
        upstreams = [
            (i["path"], u["plan"]["planId"], LOG_PORT if "log" in u else u["mountpoint"]["path"])
            for i in detail.get("inputs") or []
            for u in i.get("upstreams") or []
        ]
        downstreams = [
            (o["path"], d["plan"]["planId"], d["mountpoint"]["path"])
            for o in detail.get("outputs") or []
            for d in o.get("downstreams") or []
        ]
        log = detail.get("log")
        if log:
            downstreams += [
                (LOG_PORT, d["plan"]["planId"], d["mountpoint"]["path"]) for d in log.get("downstreams") or []
            ]
        return cls(
            plan_id=detail["planId"],
            title=_title(detail),
            annotations=list(detail.get("annotations") or []),
            inputs=[i["path"] for i in detail.get("inputs") or []],
            outputs=[o["path"] for o in detail.get("outputs") or []],
            has_log=bool(log),
            upstreams=upstreams,
            downstreams=downstreams,
            emphasize=emphasize,
        )

    def write(self, out: list[str], url: str | None = None) -> None:
        node = dot_escape(self.node_id)
        out.append("\tsubgraph {\n")
        for path in self.inputs:
            port = dot_escape(self.port_id(path))
            out.append(f'\t\t"{port}"[shape=point, color="{DATA_COLOR}"];\n')
            out.append(f'\t\t"{port}" -> "{node}" [label="{dot_escape(path)}"];\n')
        annotations = []
        for annotation in self.annotations:
            key, _, value = annotation.partition("=")
            annotations.append(f"<B>{html_escape(key)}</B>={html_escape(value)}")
        link = _link_lines(url, f"Plan {self.plan_id}", "\t\t\t")
        out.append(
            f'\t\t"{node}"[\n'
            "\t\t\tshape=none\n"
            f'\t\t\tcolor="{PLAN_COLOR}"\n'
            f"{link}"
            "\t\t\tlabel=<\n"
            '\t\t\t\t<TABLE CELLSPACING="0">\n'
            f'\t\t\t\t\t<TR><TD BGCOLOR="{PLAN_COLOR}"><FONT COLOR="#FFFFFF"><B>Plan</B></FONT></TD>'
            f'<TD BGCOLOR="{PLAN_EMPHASIS if self.emphasize else PLAIN}">id: {html_escape(self.plan_id)}</TD></TR>\n'
            f'\t\t\t\t\t<TR><TD COLSPAN="2">{html_escape(self.title)}</TD></TR>\n'
            f'\t\t\t\t\t<TR><TD COLSPAN="2">{"<BR/>".join(annotations)}</TD></TR>\n'
            "\t\t\t\t</TABLE>\n"
            "\t\t\t>\n"
            "\t\t];\n"
        )
        ports = [(path, path) for path in self.outputs]
        if self.has_log:
            ports.append((LOG_PORT, LOG_LABEL))
        for port_name, label in ports:
            port = dot_escape(self.port_id(port_name))
            out.append(f'\t\t"{port}"[shape=point, color="{DATA_COLOR}"];\n')
            out.append(f'\t\t"{node}" -> "{port}" [label="{dot_escape(label)}"];\n')
        out.append("\t}\n")


class Graph:
    """Nodes in insertion order; an edge is recorded as soon as both of its ends are present."""

    def __init__(self) -> None:
        self.data: dict[str, DataNode] = {}
        self.runs: dict[str, RunNode] = {}
        self.plans: dict[str, PlanNode] = {}
        self.roots: list[str] = []  # run ids; ``root#<index>`` points at each
        self.edges: list[Edge] = []
        self._seen: set[tuple[str, str, str]] = set()
        #: the trace stopped at a node budget before its depth (``service.graphs``'s ``max_nodes``)
        self.truncated = False
        # edges waiting for a node that is not in the graph yet, keyed by that node's id
        self._pending: dict[str, list[Edge]] = {}

    @property
    def node_count(self) -> int:
        """Nodes drawn: Data, Runs, Plans and roots (a Plan's port points not counted)."""
        return len(self.data) + len(self.runs) + len(self.plans) + len(self.roots)

    def _edge(self, edge: Edge) -> None:
        key = (edge.source, edge.target, edge.label)
        if key not in self._seen:
            self._seen.add(key)
            self.edges.append(edge)

    def _link(self, other_present: bool, other_id: str, edge: Edge) -> None:
        if other_present:
            self._edge(edge)
        else:
            self._pending.setdefault(other_id, []).append(edge)

    def _arrive(self, node_id: str) -> None:
        for edge in self._pending.pop(node_id, ()):
            self._edge(edge)

    def add_data(self, node: DataNode) -> DataNode:
        """Add a Data node (a second add of the same id is ignored)."""
        if node.knit_id in self.data:
            return self.data[node.knit_id]
        self.data[node.knit_id] = node
        self._arrive(node.node_id)
        if node.upstream_run is not None:
            run_id = "r" + node.upstream_run
            self._link(node.upstream_run in self.runs, run_id, Edge(run_id, node.node_id, node.upstream_label))
        for run, path in node.downstreams:
            self._link(run in self.runs, "r" + run, Edge(node.node_id, "r" + run, path))
        return node

    def add_run(self, node: RunNode) -> RunNode:
        """Add a Run node; one without inputs also gets a root node in front of it."""
        if node.run_id in self.runs:
            return self.runs[node.run_id]
        self.runs[node.run_id] = node
        self._arrive(node.node_id)
        for knit_id, path in node.inputs:
            self._link(knit_id in self.data, "d" + knit_id, Edge("d" + knit_id, node.node_id, path))
        for knit_id, path in node.outputs:
            self._link(knit_id in self.data, "d" + knit_id, Edge(node.node_id, "d" + knit_id, path))
        if node.log is not None:
            self._link(node.log in self.data, "d" + node.log, Edge(node.node_id, "d" + node.log, LOG_LABEL))
        if not node.inputs:
            self._edge(Edge(f"root#{len(self.roots)}", node.node_id))
            self.roots.append(node.run_id)
        return node

    def add_plan(self, node: PlanNode) -> PlanNode:
        """Add a Plan node with its port points; plan-to-plan edges join output/log ports to input ports."""
        if node.plan_id in self.plans:
            return self.plans[node.plan_id]
        self.plans[node.plan_id] = node
        self._arrive(node.node_id)
        for path, plan_id, port in node.upstreams:
            source = f"p{plan_id}@{port}"
            self._link(plan_id in self.plans, "p" + plan_id, Edge(source, node.port_id(path)))
        for port, plan_id, path in node.downstreams:
            target = f"p{plan_id}@{path}"
            self._link(plan_id in self.plans, "p" + plan_id, Edge(node.port_id(port), target))
        return node

    def to_dot(self, *, link: NodeLink | None = None) -> str:
        """The DOT text, byte for byte in Knitfab's layout (no trailing newline); ``link`` adds node hyperlinks."""
        out: list[str] = [HEADER]
        for data in self.data.values():
            data.write(out, link("data", data.knit_id) if link else None)
        for run in self.runs.values():
            run.write(out, link("run", run.run_id) if link else None)
        for plan in self.plans.values():
            plan.write(out, link("plan", plan.plan_id) if link else None)
        for index in range(len(self.roots)):
            out.append(f'\t"root#{index}"[shape=Mdiamond];\n')
        out.append("\n")
        write_edges(self.edges, out)
        out.append(FOOTER)
        return "".join(out)


def write_edges(edges: Iterable[Edge], out: list[str]) -> None:
    for edge in edges:
        label = f' [label="{dot_escape(edge.label)}"]' if edge.label else ""
        out.append(f'\t"{dot_escape(edge.source)}" -> "{dot_escape(edge.target)}"{label};\n')


def parse_depth(text: str, *, field: str) -> int | None:
    """A depth as users write it (``-n 3``, ``depth=all``): a positive number, or ``all`` (None: no limit)."""
    if text == "all":
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"must be a positive number or 'all', not {shown(text)}", field=field)
    return int(text)
