"""A big lineage or plan graph made drawable: repeated patterns collapsed into expandable groups, a node budget,
a search, and what is shown said plainly ("showing N of M").

Collapsing follows the graph outward from the focus node (breadth first, both directions): every node gets a
*shape*, its kind (Data, Run of one Plan, Plan with its ports) plus the shapes of what it leads to, so two Data
whose Runs and further Data look alike have the same shape even though their ids and paths differ. Among the
nodes one node (or one group) leads to, those of one shape that are ``MIN_GROUP`` or more become one group node,
and the nodes they lead to are grouped in turn: ``D0 -> A -> 8 Data -> 8 Runs of B -> 480 Data -> ...`` is drawn
as a chain of boxes whatever its size. Nothing is guessed: a group holds only nodes of one shape, and its key
(stable for the same graph) expands it on request. The focus, the search matches and the path to them are
always drawn one by one. Past ``budget`` boxes, the ones nearest the focus are drawn and the message says so.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from knit_provider.core.graphs import FOOTER, HEADER, Edge, Graph, dot_escape, write_edges

MIN_GROUP = 4
BUDGET = 400
GROUP_COLOR = "#6c757d"
KIND_NAMES = {"d": ("Data", "Data"), "r": ("Run", "Runs"), "p": ("Plan", "Plans"), "o": ("root", "roots")}


def owner(node_id: str) -> str:
    """The node an edge end belongs to: a Plan's port ``p<id>@<port>`` belongs to ``p<id>``."""
    return node_id.split("@", 1)[0] if node_id.startswith("p") else node_id


@dataclass
class Group:
    key: str
    members: list[str]
    kind: str  # "d", "r", "p" or "o" (roots)
    title: str  # what the members share (a Run's plan, a Plan's ports), for the label

    @property
    def node_id(self) -> str:
        return f"g{self.key}"


@dataclass
class GraphView:
    """What the page draws: the graph's nodes shown one by one, groups, and the edges between them."""

    graph: Graph
    singles: set[str]
    groups: list[Group]
    edges: list[Edge]
    total: int
    cut: int = 0  # nodes left out past the budget
    matches: list[str] = field(default_factory=list)
    expand_url: Callable[[str], str] | None = None

    @property
    def node_count(self) -> int:
        return len(self.singles) + len(self.groups)

    @property
    def shown(self) -> int:
        return len(self.singles) + sum(len(g.members) for g in self.groups)

    def summary(self) -> str:
        """One sentence: how much of the graph is drawn, and how."""
        grouped = sum(len(g.members) for g in self.groups)
        text = f"Showing {self.shown:,} of {self.total:,} nodes"
        if self.groups:
            text += (
                f": {len(self.singles):,} one by one and {grouped:,} in {len(self.groups):,} collapsed "
                f"group{'s' if len(self.groups) != 1 else ''} of repeated Runs and Data (click a group to expand it)"
            )
        if self.cut:
            text += f"; {self.cut:,} farther from the focus are left out (lower the depth or search for one)"
        if self.graph.truncated:
            text += "; the trace stopped at this size (lower the depth or start from another node)"
        return text + "."

    def to_dot(self, *, link=None) -> str:
        out: list[str] = [HEADER]
        g = self.graph
        for kind, nodes in (("data", g.data), ("run", g.runs), ("plan", g.plans)):
            for ident, node in nodes.items():
                if node.node_id in self.singles:
                    node.write(out, link(kind, ident) if link else None)
        for index in range(len(g.roots)):
            if f"root#{index}" in self.singles:
                out.append(f'\t"root#{index}"[shape=Mdiamond];\n')
        for group in self.groups:
            out.append(_group_dot(group, self.expand_url))
        out.append("\n")
        write_edges(self.edges, out)
        out.append(FOOTER)
        return "".join(out)


def _group_dot(group: Group, expand_url: Callable[[str], str] | None) -> str:
    one, many = KIND_NAMES[group.kind]
    label = f"{len(group.members):,} {many if len(group.members) != 1 else one}"
    if group.title:
        label += f"\n{group.title}"
    label += "\n(click to expand)" if expand_url else ""
    link = ""
    if expand_url:
        link = f'\t\tURL="{dot_escape(expand_url(group.key))}"\n\t\ttooltip="expand these {len(group.members):,}"\n'
    return (
        f'\t"{group.node_id}"[\n\t\tshape=box3d\n\t\tstyle=filled\n\t\tfillcolor="#f1f3f5"\n'
        f'\t\tcolor="{GROUP_COLOR}"\n{link}\t\tlabel="{dot_escape(label)}"\n\t];\n'
    )


def _labels(graph: Graph) -> dict[str, tuple]:
    """Each node's own kind: what two nodes must share to be one group (ids, paths, tags and times aside)."""
    labels: dict[str, tuple] = {}
    for node in graph.data.values():
        labels[node.node_id] = ("d", any(t.endswith(":purged") for t in node.tags if t.startswith("knit#")))
    for node in graph.runs.values():
        labels[node.node_id] = ("r", node.title)
    for node in graph.plans.values():
        labels[node.node_id] = ("p", tuple(node.inputs), tuple(node.outputs), node.has_log)
    for index in range(len(graph.roots)):
        labels[f"root#{index}"] = ("o",)
    return labels


def _title(graph: Graph, kind: str, node_id: str) -> str:
    if kind == "r":
        return graph.runs[node_id[1:]].title
    if kind == "p":
        plan = graph.plans[node_id[1:]]
        return f"inputs {', '.join(plan.inputs) or '-'}; outputs {', '.join(plan.outputs) or '-'}"
    return ""


def matches(graph: Graph, text: str) -> list[str]:
    """Nodes whose id starts with ``text`` or whose tags, image or annotations contain it (case aside)."""
    needle = text.strip().lower()
    if not needle:
        return []
    found = []
    for node in graph.data.values():
        if node.knit_id.lower().startswith(needle) or any(needle in t.lower() for t in node.tags):
            found.append(node.node_id)
    for node in graph.runs.values():
        if node.run_id.lower().startswith(needle) or needle in node.title.lower():
            found.append(node.node_id)
    for node in graph.plans.values():
        texts = [node.title, *node.annotations]
        if node.plan_id.lower().startswith(needle) or any(needle in t.lower() for t in texts):
            found.append(node.node_id)
    return found


def collapse(
    graph: Graph,
    focus: str,
    *,
    expanded: Iterable[str] = (),
    find: str = "",
    budget: int = BUDGET,
    expand_url: Callable[[str], str] | None = None,
) -> GraphView:
    """The view of ``graph`` around ``focus`` (a node id such as ``d<knit id>``); see the module text."""
    labels = _labels(graph)
    neighbours: dict[str, list[tuple[str, str]]] = defaultdict(list)  # node -> [(direction, node)]
    for edge in graph.edges:
        a, b = owner(edge.source), owner(edge.target)
        if a != b:
            neighbours[a].append(("out", b))
            neighbours[b].append(("in", a))
    # breadth first from the focus: each node's parent and children in that tree
    parent: dict[str, str | None] = {focus: None}
    order, queue = [focus], deque([focus])
    children: dict[str, list[tuple[str, str]]] = defaultdict(list)
    while queue:
        node = queue.popleft()
        for direction, other in neighbours[node]:
            if other not in parent:
                parent[other] = node
                children[node].append((direction, other))
                order.append(other)
                queue.append(other)
    order += [n for n in labels if n not in parent]  # nodes the focus does not reach (none in a trace)
    # shapes, leaves first
    shape: dict[str, str] = {}
    for node in reversed(order):
        inner = sorted(f"{d}{shape[c]}" for d, c in children[node])
        shape[node] = hashlib.sha1(repr((labels.get(node), inner)).encode()).hexdigest()[:16]
    found = matches(graph, find)
    pinned = {focus}
    for node in found:
        while node is not None and node not in pinned:
            pinned.add(node)
            node = parent.get(node)
    expanded = set(expanded)
    singles: set[str] = set()
    groups: list[Group] = []
    rep: dict[str, str] = {}

    tasks: deque[tuple[list[tuple[str, str]], str, bool]] = deque()  # (followers, parent key, in a group)

    def place(members: list[str], key: str, as_group: bool) -> None:
        """Put ``members`` (one shape) in the view; the nodes they lead to are laid out later (no recursion: a
        lineage can be thousands of Runs deep)."""
        if as_group:
            group = Group(key, members, labels[members[0]][0], _title(graph, labels[members[0]][0], members[0]))
            groups.append(group)
            for m in members:
                rep[m] = group.node_id
            tasks.append(([c for m in members for c in children[m]], key, True))
            return
        for m in members:
            singles.add(m)
            rep[m] = m
            tasks.append((children[m], m, False))

    def lay_out(followers: list[tuple[str, str]], parent_key: str, in_group: bool) -> None:
        by_shape: dict[tuple[str, str], list[str]] = defaultdict(list)
        for direction, child in followers:
            by_shape[(direction, shape[child])].append(child)
        for (direction, child_shape), members in by_shape.items():
            key = hashlib.sha1(f"{parent_key}/{direction}/{child_shape}".encode()).hexdigest()[:12]
            loose = [m for m in members if m in pinned]
            rest = [m for m in members if m not in pinned]
            if loose:
                place(loose, key, as_group=False)
            if rest:
                place(rest, key, as_group=key not in expanded and (in_group or len(members) >= MIN_GROUP))

    place([focus], focus, as_group=False)
    while tasks:
        lay_out(*tasks.popleft())
    for node in order:  # anything not reached from the focus is drawn as it is
        if node not in rep:
            singles.add(node)
            rep[node] = node
    view_edges = _view_edges(graph, rep, singles)
    view = GraphView(graph, singles, groups, view_edges, total=len(labels), matches=found, expand_url=expand_url)
    if view.node_count > budget:
        _cut(view, rep[focus], budget)
    return view


def _view_edges(graph: Graph, rep: dict[str, str], singles: set[str]) -> list[Edge]:
    """The graph's edges between view nodes: a plan port stays a port while its Plan is drawn alone; an edge
    label stays when every edge it stands for has it."""
    labels: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for edge in graph.edges:
        ends = []
        for end in (edge.source, edge.target):
            node = owner(end)
            ends.append(end if node in singles else rep[node])
        if ends[0] == ends[1]:  # within one group
            continue
        labels[(ends[0], ends[1])][edge.label] += 1
    return [Edge(a, b, next(iter(c)) if len(c) == 1 else "") for (a, b), c in labels.items()]


def _cut(view: GraphView, start: str, budget: int) -> None:
    """Keep the ``budget`` view nodes nearest ``start`` (edges both ways), drop the rest and their edges."""
    adjacent: dict[str, set[str]] = defaultdict(set)
    for edge in view.edges:
        a, b = owner(edge.source), owner(edge.target)
        adjacent[a].add(b)
        adjacent[b].add(a)
    kept, queue = {start}, deque([start])
    while queue and len(kept) < budget:
        for other in sorted(adjacent[queue.popleft()]):
            if other not in kept and len(kept) < budget:
                kept.add(other)
                queue.append(other)
    before = view.shown
    view.singles = {n for n in view.singles if n in kept}
    view.groups = [g for g in view.groups if g.node_id in kept]
    view.edges = [e for e in view.edges if owner(e.source) in kept and owner(e.target) in kept]
    view.cut = before - view.shown
