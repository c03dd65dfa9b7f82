"""Plan pages: the list (with the active toggle), one Plan (its YAML, toggle, plan graph), and a Plan DAG's Plan."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from knit_provider.api.knit import KnitDep, settings
from knit_provider.api.pages.auth import form_fields, same_origin
from knit_provider.api.pages.big_graph import TRACE_LIMIT, drawn
from knit_provider.api.pages.render import Links, message, page, shows_errors
from knit_provider.api.rest.common import can_edit_plans
from knit_provider.core.airflow_names import plan_dag_id
from knit_provider.core.errors import InvalidInput, shown
from knit_provider.core.run_control import format_duration
from knit_provider.service import explain as explain_service
from knit_provider.service import plans as plan_service
from knit_provider.service.graphs import DEFAULT_DEPTH, plan_graph
from knit_provider.service.plan_dags import plan_dags

router = APIRouter()
PAGE_SIZE = 100
COUNT_CAP = 10_000
#: Plan-YAML keys in the order ``knit plan template`` writes them.
YAML_KEYS = (
    "image",
    "entrypoint",
    "args",
    "inputs",
    "outputs",
    "log",
    "active",
    "resources",
    "on_node",
    "service_account",
    "timeout",
    "retries",
)


def plan_yaml(plan: dict) -> str:
    """The Plan as the YAML ``knit plan apply`` takes (annotations as a list of ``key=value``)."""
    spec: dict = {}
    for key in YAML_KEYS:
        if key in ("inputs", "outputs"):
            spec[key] = [{"path": p["path"], "tags": list(p["tags"])} for p in plan.get(key) or []]
        elif key == "log":
            if plan.get("log"):
                spec["log"] = {"tags": list(plan["log"]["tags"])}
        elif plan.get(key) not in (None, [], {}):
            spec[key] = plan[key]
    if plan.get("annotations"):
        spec["annotations"] = list(plan["annotations"])
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, default_flow_style=False)


def depth_of(text: str) -> int | None:
    """``1``, ``2``, ... or ``all`` (no limit), as ``-n`` takes it."""
    if text.strip().lower() == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"must be a positive integer or all, got {shown(text)}", field="depth") from None


@router.get("/plans", include_in_schema=False)
@shows_errors
def plan_list(
    request: Request,
    knit_: KnitDep,
    active: str = "both",
    image: str = "",
    in_tag: str = "",
    out_tag: str = "",
    cursor: str = "",
) -> Response:
    """``knit plan find --active ... --image ... -i TAG -o TAG`` (one tag per line in each box), newest first, a
    page at a time (keyset: ``cursor``)."""
    found = plan_service.find_page(
        knit_,
        active=active,
        image=image.strip() or None,
        in_tags=[t.strip() for t in in_tag.splitlines() if t.strip()],
        out_tags=[t.strip() for t in out_tag.splitlines() if t.strip()],
        limit=PAGE_SIZE,
        cursor=cursor or None,
        count_up_to=COUNT_CAP,
    )
    form = {"active": active, "image": image, "in_tag": in_tag, "out_tag": out_tag}
    dags = {p["planId"]: plan_dag_id(p.get("image"), p["planId"]) for p in found.items}
    return page(request, "plan_list.html", plans=found.items, found=found, dags=dags, form=form)


@router.get("/plans/dag/{dag_id}", include_in_schema=False)
def plan_of_dag(request: Request, knit_: KnitDep, dag_id: str) -> Response:
    """The Plan a ``knit_plan__...`` DAG runs (the DAG page's "Knit Plan" tab)."""
    plan_id = next((p.plan_id for p in plan_dags(knit_) if p.dag_id == dag_id), None)
    if plan_id is None:
        return message(request, "Not a Knit Plan", f"The DAG {dag_id} does not run a Knit Plan.")
    return RedirectResponse(Links.of(request).plan(plan_id), status_code=303)


@router.get("/plans/{plan_id}", include_in_schema=False)
@shows_errors
def plan_detail(
    request: Request,
    knit_: KnitDep,
    plan_id: str,
    direction: str = "both",
    depth: str = "",
    expand: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    find: str = "",
) -> Response:
    plan = plan_service.show(knit_, plan_id)
    limit = depth_of(depth) if depth else DEFAULT_DEPTH
    depth_text = "all" if limit is None else str(limit)
    upstream, downstream = direction in ("both", "up"), direction in ("both", "down")
    graph = plan_graph(knit_, plan_id, upstream=upstream, downstream=downstream, depth=limit, max_nodes=TRACE_LIMIT)
    links = Links.of(request)

    def expand_url(key: str) -> str:
        query = {"direction": direction, "depth": depth_text, "expand": [*expand, key], "find": find}
        return links.knit("plans", plan_id, **query)

    shown_graph = drawn(graph, "p" + plan_id, links, expand=expand, find=find, expand_url=expand_url)
    return page(
        request,
        "plan_detail.html",
        plan=plan,
        yaml_text=plan_yaml(plan),
        dag_id=plan_dag_id(plan.get("image"), plan_id),
        graph=shown_graph.svg,
        view=shown_graph.view,
        expand=expand,
        find=find,
        direction=direction,
        depth=depth_text,
        saved=request.query_params.get("saved", ""),
        near=explain_service.near_misses(knit_, plan_id),
        defaults=_defaults(),
    )


def _defaults() -> dict[str, str]:
    """What a Plan that sets no timeout or retries gets: ``[knit] default_timeout`` / ``default_retries``."""
    control = settings().default_control
    return {
        "timeout": format_duration(control.timeout_s) if control.timeout_s is not None else "none",
        "retries": f"{control.retry_count} (delay {format_duration(control.retry_delay)})",
    }


def _field(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0].strip()


@router.post(
    "/plans/{plan_id}/timeout", include_in_schema=False, dependencies=[Depends(same_origin), Depends(can_edit_plans)]
)
@shows_errors
def set_timeout(
    request: Request, knit_: KnitDep, plan_id: str, fields: Annotated[dict[str, list[str]], Depends(form_fields)]
) -> Response:
    """``knit plan timeout ID DURATION|--unset`` (beyond Knitfab)."""
    unset = _field(fields, "action") == "unset"
    plan_service.set_timeout(knit_, plan_id, None if unset else _field(fields, "timeout"))
    return RedirectResponse(Links.of(request).knit("plans", plan_id, saved="timeout"), status_code=303)


@router.post(
    "/plans/{plan_id}/retries", include_in_schema=False, dependencies=[Depends(same_origin), Depends(can_edit_plans)]
)
@shows_errors
def set_retries(
    request: Request, knit_: KnitDep, plan_id: str, fields: Annotated[dict[str, list[str]], Depends(form_fields)]
) -> Response:
    """``knit plan retries ID N [--delay D]|--unset`` (beyond Knitfab)."""
    if _field(fields, "action") == "unset":
        plan_service.set_retries(knit_, plan_id, None)
    else:
        count = _field(fields, "count")
        if not count.isdigit():
            raise InvalidInput(f"must be a whole number, got {shown(count)}", field="retries")
        plan_service.set_retries(knit_, plan_id, int(count), delay=_field(fields, "delay") or None)
    return RedirectResponse(Links.of(request).knit("plans", plan_id, saved="retries"), status_code=303)


@router.post(
    "/plans/{plan_id}/active", include_in_schema=False, dependencies=[Depends(same_origin), Depends(can_edit_plans)]
)
@shows_errors
def toggle_active(
    request: Request, knit_: KnitDep, plan_id: str, fields: Annotated[dict[str, list[str]], Depends(form_fields)]
) -> Response:
    """``knit plan active yes|no``; back to the list or the Plan, whichever the form came from."""
    wanted = (fields.get("active") or [""])[0]
    if wanted not in ("yes", "no"):
        raise InvalidInput(f"must be yes or no, got {shown(wanted)}", field="active")
    plan_service.set_active(knit_, plan_id, wanted == "yes")
    links = Links.of(request)
    if (fields.get("back") or [""])[0] == "list":
        return RedirectResponse(links.knit("plans"), status_code=303)
    return RedirectResponse(links.knit("plans", plan_id, saved=1), status_code=303)
