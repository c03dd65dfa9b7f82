"""Plan pages: the list (with the active toggle), one Plan (its YAML, toggle, plan graph), and a Plan DAG's Plan."""

from __future__ import annotations

from typing import Annotated

import yaml
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from knit_provider.api.knit import knit
from knit_provider.api.pages.auth import form_fields, same_origin
from knit_provider.api.pages.render import Links, message, page, shows_errors
from knit_provider.api.pages.svg import inline_svg
from knit_provider.api.rest.common import can_edit_plans
from knit_provider.core.errors import InvalidInput
from knit_provider.service import plans as plan_service
from knit_provider.service.context import Knit
from knit_provider.service.execution import plan_dag_id, plan_dags
from knit_provider.service.graphs import DEFAULT_DEPTH, plan_graph

router = APIRouter()
KnitDep = Annotated[Knit, Depends(knit)]
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
        raise InvalidInput(f"must be a positive integer or all, got {text!r}", field="depth") from None


@router.get("/plans", include_in_schema=False)
@shows_errors
def plan_list(
    request: Request, knit_: KnitDep, active: str = "both", image: str = "", in_tag: str = "", out_tag: str = ""
) -> Response:
    """``knit plan find --active ... --image ... -i TAG -o TAG`` (one tag per line in each box)."""
    found = plan_service.find(
        knit_,
        active=active,
        image=image.strip() or None,
        in_tags=[t.strip() for t in in_tag.splitlines() if t.strip()],
        out_tags=[t.strip() for t in out_tag.splitlines() if t.strip()],
    )
    form = {"active": active, "image": image, "in_tag": in_tag, "out_tag": out_tag}
    dags = {p["planId"]: plan_dag_id(p.get("image"), p["planId"]) for p in found}
    return page(request, "plan_list.html", plans=found, dags=dags, form=form)


@router.get("/plans/dag/{dag_id}", include_in_schema=False)
def plan_of_dag(request: Request, knit_: KnitDep, dag_id: str) -> Response:
    """The Plan a ``knit_plan__...`` DAG runs (the DAG page's "Knit Plan" tab)."""
    plan_id = next((p.plan_id for p in plan_dags(knit_.engine) if p.dag_id == dag_id), None)
    if plan_id is None:
        return message(request, "Not a Knit Plan", f"The DAG {dag_id} does not run a Knit Plan.")
    return RedirectResponse(Links.of(request).plan(plan_id), status_code=303)


@router.get("/plans/{plan_id}", include_in_schema=False)
@shows_errors
def plan_detail(request: Request, knit_: KnitDep, plan_id: str, direction: str = "both", depth: str = "") -> Response:
    plan = plan_service.show(knit_, plan_id)
    limit = depth_of(depth) if depth else DEFAULT_DEPTH
    upstream, downstream = direction in ("both", "up"), direction in ("both", "down")
    graph = inline_svg(
        plan_graph(knit_, plan_id, upstream=upstream, downstream=downstream, depth=limit), Links.of(request)
    )
    return page(
        request,
        "plan_detail.html",
        plan=plan,
        yaml_text=plan_yaml(plan),
        dag_id=plan_dag_id(plan.get("image"), plan_id),
        graph=graph,
        direction=direction,
        depth="all" if limit is None else str(limit),
        saved=request.query_params.get("saved") == "1",
    )


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
        raise InvalidInput(f"must be yes or no, got {wanted!r}", field="active")
    plan_service.set_active(knit_, plan_id, wanted == "yes")
    links = Links.of(request)
    if (fields.get("back") or [""])[0] == "list":
        return RedirectResponse(links.knit("plans"), status_code=303)
    return RedirectResponse(links.knit("plans", plan_id, saved=1), status_code=303)
