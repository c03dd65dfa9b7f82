"""The lineage viewer: ``knit data lineage [-u] [-d] [-n N|all]`` drawn as SVG with pan, zoom and clickable nodes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from knit_provider.api.knit import knit
from knit_provider.api.pages.plans import depth_of
from knit_provider.api.pages.render import Links, page, shows_errors
from knit_provider.api.pages.svg import inline_svg
from knit_provider.core.errors import InvalidInput
from knit_provider.service import data as data_service
from knit_provider.service.context import Knit
from knit_provider.service.graphs import DEFAULT_DEPTH, lineage

router = APIRouter()
KnitDep = Annotated[Knit, Depends(knit)]
DIRECTIONS = ("both", "up", "down")
RECENT = 20


@router.get("/lineage", include_in_schema=False)
@shows_errors
def lineage_picker(request: Request, knit_: KnitDep, knit_id: str = "") -> Response:
    """Start from a knit id typed in, or from one of the newest Data."""
    if knit_id.strip():
        return RedirectResponse(Links.of(request).lineage(knit_id.strip()), status_code=303)
    recent = data_service.find(knit_)[-RECENT:][::-1]
    return page(request, "lineage_picker.html", recent=recent)


@router.get("/lineage/{knit_id}", include_in_schema=False)
@shows_errors
def lineage_view(request: Request, knit_: KnitDep, knit_id: str, direction: str = "both", depth: str = "") -> Response:
    if direction not in DIRECTIONS:
        raise InvalidInput(f"must be both, up or down, got {direction!r}", field="direction")
    limit = depth_of(depth) if depth else DEFAULT_DEPTH
    graph = lineage(
        knit_, knit_id, upstream=direction in ("both", "up"), downstream=direction in ("both", "down"), depth=limit
    )
    return page(
        request,
        "lineage.html",
        knit_id=knit_id,
        graph=inline_svg(graph, Links.of(request)),
        direction=direction,
        depth="all" if limit is None else str(limit),
    )
