"""Data pages: the browser (tag search, transient and time-window filters) and one Data with its tag editor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from knit_provider.api.knit import knit
from knit_provider.api.pages.auth import form_fields, same_origin
from knit_provider.api.pages.render import Links, page, shows_errors
from knit_provider.api.pages.svg import inline_svg
from knit_provider.api.rest.common import can_trigger
from knit_provider.core.errors import KnitError
from knit_provider.core.timefmt import format_ms, now_ms, parse_duration
from knit_provider.service import data as data_service
from knit_provider.service.context import Knit
from knit_provider.service.graphs import lineage

router = APIRouter()
PAGE_SIZE = 100
#: Quick time windows offered beside the Since/For fields: (label, duration).
WINDOWS = (("last hour", "1h"), ("last 24 hours", "24h"), ("last 7 days", "168h"))
KnitDep = Annotated[Knit, Depends(knit)]


def lines(text: str | None) -> list[str]:
    """Tags typed one per line (values may hold spaces and commas, so lines are the only safe separator)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    return RedirectResponse(Links.of(request).knit("data"), status_code=303)


@router.get("/data", include_in_schema=False)
@shows_errors
def data_browser(
    request: Request,
    knit_: KnitDep,
    tags: str = "",
    transient: str = "both",
    since: str = "",
    duration: str = "",
    page_no: Annotated[int, Query(alias="page", ge=1)] = 1,
) -> Response:
    """Newest first; the same search as ``knit data find -t ... --transient ... --since ... --duration ...``."""
    wanted = lines(tags)
    form = {"tags": tags, "transient": transient, "since": since, "duration": duration, "windows": windows()}
    try:
        found = data_service.find(knit_, wanted, transient=transient, since=since or None, duration=duration or None)
    except KnitError as err:
        return page(
            request, "data_list.html", status=400, error=str(err), form=form, rows=[], total=0, page_no=1, pages=1
        )
    found.reverse()
    pages = max(1, -(-len(found) // PAGE_SIZE))
    page_no = min(page_no, pages)
    rows = found[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
    return page(
        request, "data_list.html", error=None, form=form, rows=rows, total=len(found), page_no=page_no, pages=pages
    )


def windows() -> list[tuple[str, str, str]]:
    """``(label, since, duration)`` for each quick window, ending now."""
    now = now_ms()
    return [(label, format_ms(now - parse_duration(span)), span) for label, span in WINDOWS]


def _data_page(request: Request, knit_: Knit, knit_id: str, *, status: int = 200, **extra: object) -> Response:
    detail = data_service.show(knit_, knit_id)
    graph = inline_svg(lineage(knit_, knit_id, depth=1), Links.of(request))
    context = {"error": None, "saved": request.query_params.get("saved") == "1", "add_text": "", "removing": []}
    context.update(extra)
    return page(request, "data_detail.html", status=status, data=detail, graph=graph, **context)


@router.get("/data/{knit_id}", include_in_schema=False)
@shows_errors
def data_detail(request: Request, knit_: KnitDep, knit_id: str) -> Response:
    return _data_page(request, knit_, knit_id)


@router.post("/data/{knit_id}/tags", include_in_schema=False, dependencies=[Depends(same_origin), Depends(can_trigger)])
@shows_errors
def edit_tags(
    request: Request, knit_: KnitDep, knit_id: str, fields: Annotated[dict[str, list[str]], Depends(form_fields)]
) -> Response:
    """``knit data tag --remove ... --add ...``: removals first, all or nothing; a bad tag changes nothing."""
    add_text = "\n".join(fields.get("add", []))
    remove = fields.get("remove", [])
    try:
        data_service.tag(knit_, knit_id, add=lines(add_text), remove=remove)
    except KnitError as err:
        if err.http_status == 404:
            raise
        return _data_page(
            request, knit_, knit_id, status=err.http_status, error=str(err), add_text=add_text, removing=remove
        )
    return RedirectResponse(Links.of(request).knit("data", knit_id, saved=1), status_code=303)
