"""Plans under ``/api/plans``, at Knitfab's paths: apply, find, show, and the mutable fields.

Beyond Knitfab: ``POST /api/plans`` takes the plan YAML (``knit plan apply``'s file, any text content type) as
well as its JSON form (``application/json``), validated by the same rules with the same messages.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import Query, Request, Response

from knit_provider.api.knit import KnitDep
from knit_provider.api.rest.common import (
    EDIT_PLANS,
    READ,
    TRIGGER,
    BackfillLimitDep,
    DryRunQuery,
    documented,
    resource_router,
)
from knit_provider.api.rest.listing import CursorQuery, LimitQuery, page_response, paged
from knit_provider.api.rest.models import (
    AnnotationChange,
    Plan,
    ResourceChange,
    RetriesChange,
    ServiceAccount,
    TimeoutChange,
    annotation_texts,
)
from knit_provider.core.documents import load_json
from knit_provider.core.errors import InvalidInput
from knit_provider.core.plan_spec import PlanSpec, parse_plan_dict
from knit_provider.service import plans as plan_service
from knit_provider.service import previews

router = resource_router("/plans", "plans")

MAX_PLAN_BYTES = 1 << 20
PLAN_BODY = {
    "required": True,
    "description": "The plan, as the YAML `knit plan apply` reads or as its JSON form",
    "content": {
        "application/yaml": {"schema": {"type": "string"}, "example": "image: repo/name:1.0\ninputs: ..."},
        "application/json": {"schema": {"type": "object"}},
    },
}


async def _plan_text(request: Request) -> str:
    """The body, bounded: a plan is a small document."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PLAN_BYTES:
            raise InvalidInput(f"a plan larger than {MAX_PLAN_BYTES} bytes is refused", field="plan")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the plan is not UTF-8 text", field="plan") from None


def _parse(text: str, content_type: str) -> PlanSpec | str:
    if content_type.split(";")[0].strip().lower() != "application/json":
        return text  # YAML: the service parses it as ``knit plan apply`` does
    return parse_plan_dict(load_json(text, source="plan"))


@router.post(
    "",
    summary="Apply a Plan",
    **documented(Plan, "The new Plan"),
    dependencies=TRIGGER,
    openapi_extra={"requestBody": PLAN_BODY},
)
async def apply_plan(
    request: Request,
    knit: KnitDep,
    limit: BackfillLimitDep,
    dry_run: DryRunQuery = False,
    yes: Annotated[
        bool, Query(description="apply even when it creates more Runs than [knit] backfill_confirm")
    ] = False,
) -> dict:
    """``knit plan apply``: register the Plan; Runs for the Data that already satisfies it are created with it.
    More Runs than ``[knit] backfill_confirm`` are refused (409, naming the count) unless ``yes=true``;
    ``dry_run=true`` reports the checks, the Runs and the Plans downstream instead, writing nothing."""
    spec = _parse(await _plan_text(request), request.headers.get("content-type", ""))
    if dry_run:
        return await anyio.to_thread.run_sync(lambda: previews.apply(knit, spec, backfill_confirm=limit))
    return await anyio.to_thread.run_sync(lambda: plan_service.apply(knit, spec, yes=yes, backfill_confirm=limit))


@router.get("", summary="Find Plans", **documented(list[Plan]), dependencies=READ)
def find_plans(
    request: Request,
    knit: KnitDep,
    active: Annotated[str, Query(description="both, yes/true or no/false")] = "both",
    image: Annotated[str | None, Query(description="repo or repo:tag")] = None,
    in_tag: Annotated[list[str], Query(description="tags one single input carries (repeatable)")] = [],  # noqa: B006
    out_tag: Annotated[list[str], Query(description="tags one output carries (repeatable)")] = [],  # noqa: B006
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> Response | list[dict]:
    """``knit plan find``. With ``limit`` (and ``cursor``): one page, newest first, its neighbours in the ``Link``
    header; without: every match, oldest first."""
    filters = {"active": active, "image": image, "in_tags": in_tag, "out_tags": out_tag}
    if paged(limit, cursor):
        return page_response(request, plan_service.find_page(knit, **filters, limit=limit, cursor=cursor))
    return plan_service.find(knit, **filters)


@router.get("/{plan_id}", summary="One Plan", **documented(Plan), dependencies=READ)
def show_plan(plan_id: str, knit: KnitDep) -> dict:
    """``knit plan show``."""
    return plan_service.show(knit, plan_id)


@router.put("/{plan_id}/active", summary="Activate a Plan", **documented(Plan), dependencies=EDIT_PLANS)
def activate_plan(plan_id: str, knit: KnitDep, dry_run: DryRunQuery = False) -> dict:
    """``knit plan active yes``: its deactivated Runs wait again (``dry_run=true``: which, nothing written)."""
    if dry_run:
        return previews.set_active(knit, plan_id, True)
    return plan_service.set_active(knit, plan_id, True)


@router.delete("/{plan_id}/active", summary="Deactivate a Plan", **documented(Plan), dependencies=EDIT_PLANS)
def deactivate_plan(plan_id: str, knit: KnitDep, dry_run: DryRunQuery = False) -> dict:
    """``knit plan active no``: its waiting Runs are deactivated until it is active again."""
    if dry_run:
        return previews.set_active(knit, plan_id, False)
    return plan_service.set_active(knit, plan_id, False)


@router.put("/{plan_id}/resources", summary="Set or unset resources", **documented(Plan), dependencies=EDIT_PLANS)
def set_plan_resources(plan_id: str, change: ResourceChange, knit: KnitDep) -> dict:
    """``knit plan resource -s K=V -u K``: unset first, then set; Runs starting later get them."""
    return plan_service.set_resources(
        knit, plan_id, set_={k: str(v) for k, v in change.set.items()}, unset=change.unset
    )


@router.put("/{plan_id}/annotations", summary="Edit annotations", **documented(Plan), dependencies=EDIT_PLANS)
def annotate_plan(plan_id: str, change: AnnotationChange, knit: KnitDep) -> dict:
    """``knit plan annotate``: removals (pairs, then keys) before additions."""
    return plan_service.annotate(
        knit,
        plan_id,
        add=annotation_texts(change.add),
        remove=annotation_texts(change.remove),
        remove_keys=change.remove_key,
    )


@router.put("/{plan_id}/timeout", summary="Set or unset the timeout", **documented(Plan), dependencies=EDIT_PLANS)
def set_plan_timeout(plan_id: str, change: TimeoutChange, knit: KnitDep) -> dict:
    """``knit plan timeout ID DURATION|--unset`` (beyond Knitfab): a Run attempt running longer fails."""
    return plan_service.set_timeout(knit, plan_id, change.timeout)


@router.put("/{plan_id}/retries", summary="Set or unset the retries", **documented(Plan), dependencies=EDIT_PLANS)
def set_plan_retries(plan_id: str, change: RetriesChange, knit: KnitDep) -> dict:
    """``knit plan retries ID N [--delay D]|--unset`` (beyond Knitfab): a failed attempt is tried again."""
    return plan_service.set_retries(knit, plan_id, change.count, delay=change.delay)


@router.put("/{plan_id}/serviceaccount", summary="Set the service account", **documented(Plan), dependencies=EDIT_PLANS)
def set_plan_service_account(plan_id: str, account: ServiceAccount, knit: KnitDep) -> dict:
    """``knit plan serviceaccount --set NAME``."""
    return plan_service.set_service_account(knit, plan_id, account.service_account)


@router.delete(
    "/{plan_id}/serviceaccount", summary="Unset the service account", **documented(Plan), dependencies=EDIT_PLANS
)
def unset_plan_service_account(plan_id: str, knit: KnitDep) -> dict:
    """``knit plan serviceaccount --unset``."""
    return plan_service.set_service_account(knit, plan_id, None)
