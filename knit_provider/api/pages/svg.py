"""Lineage and plan graphs as inline SVG for the pages: every node a link to its page, layouts cached.

graphviz escapes all text it writes (tags arrive in DOT already escaped by ``core.graphs``), so its SVG goes into
the page as ``Markup``; only the XML prolog, DOCTYPE and comments are dropped, and the fixed size is removed so
the viewer (``static/knit.js``) can pan and zoom over the ``viewBox``.

Laying out is the slow part (about half a second for 1,000 nodes), and the same DOT text always gives the same
SVG, so layouts are cached by a hash of the DOT text: a page shown again, or by another user, skips graphviz,
and any change in the catalog changes the text and so the key.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

from markupsafe import Markup

from knit_provider.api.pages.render import Links
from knit_provider.core.graphs import Graph
from knit_provider.service.graphs import render

CACHE_BYTES = 64 << 20
_SVG_START = re.compile(rb"<svg\b")
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_SIZE = re.compile(rb'^<svg width="[^"]*" height="[^"]*"')


class _LayoutCache:
    """A small LRU of SVG bytes by DOT hash, bounded in total size, shared by the api-server's threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            svg = self._items.get(key)
            if svg is not None:
                self._items.move_to_end(key)
            return svg

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0

    def put(self, key: str, svg: bytes) -> None:
        if len(svg) > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = svg
            self._size += len(svg)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


_cache = _LayoutCache(CACHE_BYTES)


def clear_layout_cache() -> None:
    """Forget every cached layout (benchmarks measuring a first view)."""
    _cache.clear()


@dataclass(frozen=True)
class InlineGraph:
    svg: Markup
    nodes: int
    cached: bool  # the layout came from the cache


def _inline(svg: bytes) -> str:
    start = _SVG_START.search(svg)
    body = svg[start.start() :] if start else svg
    body = _COMMENT.sub(b"", body)
    body = _SIZE.sub(b'<svg class="graph" preserveAspectRatio="xMidYMid meet"', body, count=1)
    return body.decode("utf-8")


def linker(links: Links):
    """Node hyperlinks for ``Graph.to_dot``: Data, Run and Plan nodes open their pages."""
    pages = {"data": links.data, "run": links.run, "plan": links.plan}
    return lambda kind, ident: pages[kind](ident)


def inline_svg(graph: Graph, links: Links) -> InlineGraph:
    """The graph laid out by graphviz, ready to put in a page (see the module text for why it is safe)."""
    dot = graph.to_dot(link=linker(links))
    key = hashlib.sha256(dot.encode("utf-8")).hexdigest()
    svg = _cache.get(key)
    cached = svg is not None
    if svg is None:
        svg = render(dot, "svg")
        _cache.put(key, svg)
    return InlineGraph(svg=Markup(_inline(svg)), nodes=graph.node_count, cached=cached)
