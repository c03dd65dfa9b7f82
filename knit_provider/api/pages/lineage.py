"""The lineage viewer: ``knit data lineage [-u] [-d] [-n N|all]`` drawn as SVG with pan, zoom and clickable nodes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from knit_provider.api.knit import KnitDep
from knit_provider.api.pages.big_graph import TRACE_LIMIT, drawn
from knit_provider.api.pages.plans import depth_of
from knit_provider.api.pages.render import Links, page, shows_errors
from knit_provider.core.errors import InvalidInput, shown
from knit_provider.service import data as data_service
from knit_provider.service.graphs import DEFAULT_DEPTH, lineage

router = APIRouter()
DIRECTIONS = ("both", "up", "down")
RECENT = 20


@router.get("/lineage", include_in_schema=False)
@shows_errors
def lineage_picker(request: Request, knit_: KnitDep, knit_id: str = "") -> Response:
    """Start from a knit id typed in, or from one of the newest Data."""
    if knit_id.strip():
        return RedirectResponse(Links.of(request).lineage(knit_id.strip()), status_code=303)
    recent = data_service.find_page(knit_, limit=RECENT).items
    return page(request, "lineage_picker.html", recent=recent)


@router.get("/lineage/{knit_id}", include_in_schema=False)
@shows_errors
def lineage_view(
    request: Request,
    knit_: KnitDep,
    knit_id: str,
    direction: str = "both",
    depth: str = "",
    expand: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    find: str = "",
) -> Response:
    """Traced to ``TRACE_LIMIT`` nodes at most, repeated Runs and Data collapsed into groups (``expand`` opens
    one), ``find`` searching every traced node."""
    if direction not in DIRECTIONS:
        raise InvalidInput(f"must be both, up or down, got {shown(direction)}", field="direction")
    limit = depth_of(depth) if depth else DEFAULT_DEPTH
    depth_text = "all" if limit is None else str(limit)
    graph = lineage(
        knit_, knit_id, upstream=direction in ("both", "up"), downstream=direction in ("both", "down"), depth=limit,
        max_nodes=TRACE_LIMIT,
    )  # fmt: skip
    links = Links.of(request)

    def expand_url(key: str) -> str:
        return links.lineage(knit_id, direction=direction, depth=depth_text, expand=[*expand, key], find=find)

    shown_graph = drawn(graph, "d" + knit_id, links, expand=expand, find=find, expand_url=expand_url)
    return page(
        request,
        "lineage.html",
        knit_id=knit_id,
        graph=shown_graph.svg,
        view=shown_graph.view,
        expand=expand,
        find=find,
        direction=direction,
        depth=depth_text,
    )
