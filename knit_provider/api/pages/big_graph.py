"""Lineage and plan graphs of any size on a page: traced to a server-side node limit, collapsed into groups of
repeated Runs and Data (``core.graph_view``), searchable, and laid out only for what is drawn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from knit_provider.api.pages.render import Links
from knit_provider.api.pages.svg import InlineGraph, inline_svg
from knit_provider.core.graph_view import GraphView, collapse
from knit_provider.core.graphs import Graph

#: the most nodes a page traces (past it the trace stops at a level and says so)
TRACE_LIMIT = 20_000


@dataclass(frozen=True)
class DrawnGraph:
    svg: InlineGraph
    view: GraphView


def drawn(
    graph: Graph, focus: str, links: Links, *, expand: list[str], find: str, expand_url: Callable[[str], str]
) -> DrawnGraph:
    """The view of ``graph`` around ``focus`` as inline SVG; ``expand_url(key)`` is the page with one more group
    expanded."""
    view = collapse(graph, focus, expanded=expand, find=find, expand_url=expand_url)
    return DrawnGraph(inline_svg(view, links), view)  # type: ignore[arg-type]  # a GraphView draws like a Graph
