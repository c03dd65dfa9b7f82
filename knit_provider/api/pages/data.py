"""Data pages: the browser (tag search, transient and time-window filters) and one Data with its tag editor and
its Purge button (a form behind a confirmation box, like every write of the pages a same-origin POST)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from knit_provider.api.knit import KnitDep
from knit_provider.api.pages.auth import form_fields, same_origin
from knit_provider.api.pages.render import Links, page, shows_errors
from knit_provider.api.pages.svg import inline_svg
from knit_provider.api.rest.common import can_delete_runs, can_trigger
from knit_provider.core.errors import InvalidInput, KnitError
from knit_provider.core.paging import Page
from knit_provider.core.timefmt import format_ms, now_ms, parse_duration
from knit_provider.service import assets as assets_service
from knit_provider.service import data as data_service
from knit_provider.service import explain as explain_service
from knit_provider.service.context import Knit
from knit_provider.service.graphs import lineage

router = APIRouter()
PAGE_SIZE = 100
#: matches are counted up to this many ("10,000+ Data"): counting is the part of a search that grows
COUNT_CAP = 10_000
#: Plan inputs listed in the Data page's "Plans and why" panel
WHY_SHOWN = 12
#: Quick time windows offered beside the Since/For fields: (label, duration).
WINDOWS = (("last hour", "1h"), ("last 24 hours", "24h"), ("last 7 days", "168h"))


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
    cursor: str = "",
) -> Response:
    """Newest first, a page at a time (keyset: ``cursor``); the same search as ``knit data find -t ...
    --transient ... --since ... --duration ...``. Matches are counted up to ``COUNT_CAP``."""
    wanted = lines(tags)
    form = {"tags": tags, "transient": transient, "since": since, "duration": duration, "windows": windows()}
    try:
        found = data_service.find_page(
            knit_, wanted, transient=transient, since=since or None, duration=duration or None,
            limit=PAGE_SIZE, cursor=cursor or None, count_up_to=COUNT_CAP,
        )  # fmt: skip
    except KnitError as err:
        return page(request, "data_list.html", status=400, error=str(err), form=form, found=Page([], total=0))
    return page(request, "data_list.html", error=None, form=form, found=found)


def windows() -> list[tuple[str, str, str]]:
    """``(label, since, duration)`` for each quick window, ending now."""
    now = now_ms()
    return [(label, format_ms(now - parse_duration(span)), span) for label, span in WINDOWS]


def _data_page(request: Request, knit_: Knit, knit_id: str, *, status: int = 200, **extra: object) -> Response:
    detail = data_service.show(knit_, knit_id)
    graph = inline_svg(lineage(knit_, knit_id, depth=1), Links.of(request))
    why = plans_and_why(explain_service.data(knit_, knit_id))
    context = {
        "error": None,
        "saved": request.query_params.get("saved") == "1",
        "purged_now": request.query_params.get("purged") == "1",
        "purge_error": None,
        "add_text": "",
        "removing": [],
    }
    context["asset_events"] = assets_service.deliveries_of(knit_, knit_id)
    context.update(extra)
    return page(request, "data_detail.html", status=status, data=detail, graph=graph, why=why, **context)


def plans_and_why(explained: dict) -> dict:
    """The "Plans and why" panel: the inputs worth reading (nominated, used, or close), the closest first."""
    related = [e for e in explained["inputs"] if e["related"]]
    return {"shown": related[:WHY_SHOWN], "more": len(explained["inputs"]) - min(len(related), WHY_SHOWN)}


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


@router.post(
    "/data/{knit_id}/purge", include_in_schema=False, dependencies=[Depends(same_origin), Depends(can_delete_runs)]
)
@shows_errors
def purge(
    request: Request, knit_: KnitDep, knit_id: str, fields: Annotated[dict[str, list[str]], Depends(form_fields)]
) -> Response:
    """``knit data purge``, once the confirmation box is ticked; a refusal (a Run or download in the way) is shown
    on the Data page and changes nothing."""
    try:
        if fields.get("confirm") != ["yes"]:
            raise InvalidInput("tick the box to confirm that the content is deleted for good", field="confirm")
        data_service.purge(knit_, knit_id)
    except KnitError as err:
        if err.http_status == 404:
            raise
        return _data_page(request, knit_, knit_id, status=err.http_status, purge_error=str(err))
    return RedirectResponse(Links.of(request).knit("data", knit_id, purged=1), status_code=303)
