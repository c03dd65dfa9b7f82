"""Plan use cases: apply, show, find, and the mutable fields (active, resources, annotations, account)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select

from knit_provider.catalog import plans as catalog_plans
from knit_provider.catalog.edges import inputs_carrying, outputs_feeding, plans_of_ports
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.catalog.models import (
    UPLOAD_PLAN_ID,
    plans_t,
)
from knit_provider.catalog.plan_views import plan_details
from knit_provider.catalog.tagstore import lookup_tag_ids
from knit_provider.core.errors import InvalidInput, NotFound
from knit_provider.core.plan_spec import (
    PlanSpec,
    parse_annotation,
    parse_plan_yaml,
    parse_resource,
    validate_service_account,
)
from knit_provider.core.tags import parse_tag
from knit_provider.service.context import Knit

ACTIVE_CHOICES = {"both": None, "yes": True, "true": True, "no": False, "false": False}


def apply(knit: Knit, spec: PlanSpec | str) -> dict:
    """Register a Plan (YAML text or a parsed spec) and create the Runs existing Data already cause."""
    if isinstance(spec, str):
        spec = parse_plan_yaml(spec)
    with write_tx(knit.engine) as conn:
        plan_id, _runs = catalog_plans.insert_plan(conn, spec)
    return show(knit, plan_id)


def show(knit: Knit, plan_id: str) -> dict:
    with read_tx(knit.engine) as conn:
        found = plan_details(conn, [plan_id]) if plan_id != UPLOAD_PLAN_ID else []
    if not found:
        raise NotFound(f"plan not found: {plan_id}")
    return found[0]


def _plans_with_port(conn, tags: Sequence[str], *, inputs: bool) -> set[str] | None:
    """Plans having one single input (or output) that carries all ``tags``; None when no filter."""
    if not tags:
        return None
    parsed = [parse_tag(t, field="in-tag" if inputs else "out-tag") for t in tags]
    ids = lookup_tag_ids(conn, parsed)
    if len(ids) < len(set(parsed)):
        return set()
    if inputs:
        return plans_of_ports(conn, input_ids=inputs_carrying(conn, set(ids.values())))
    return plans_of_ports(conn, output_ids=outputs_feeding(conn, set(ids.values())))


def find(
    knit: Knit,
    *,
    active: str = "both",
    image: str | None = None,
    in_tags: Sequence[str] = (),
    out_tags: Sequence[str] = (),
) -> list[dict]:
    """Plans by activeness, image (``repo`` or ``repo:tag``) and tags carried by one input / one output."""
    if active not in ACTIVE_CHOICES:
        raise InvalidInput(f"unknown --active value: {active} (both, yes or no)", field="active")
    with read_tx(knit.engine) as conn:
        query = select(plans_t.c.plan_id).where(plans_t.c.plan_id != UPLOAD_PLAN_ID)
        if ACTIVE_CHOICES[active] is not None:
            query = query.where(plans_t.c.active == ACTIVE_CHOICES[active])
        if image:
            query = query.where((plans_t.c.image == image) | plans_t.c.image.like(image.replace("%", r"\%") + ":%"))
        for tags, inputs in ((in_tags, True), (out_tags, False)):
            allowed = _plans_with_port(conn, tags, inputs=inputs)
            if allowed is not None:
                query = query.where(plans_t.c.plan_id.in_(allowed))
        ids = list(conn.execute(query.order_by(plans_t.c.created_at, plans_t.c.plan_id)).scalars())
        return plan_details(conn, ids)


def set_active(knit: Knit, plan_id: str, active: bool) -> dict:
    """Activate or deactivate: waiting <-> deactivated Runs follow; nothing else changes."""
    with write_tx(knit.engine) as conn:
        catalog_plans.set_active(conn, plan_id, active)
    return show(knit, plan_id)


def set_resources(knit: Knit, plan_id: str, *, set_: Mapping[str, str] = {}, unset: Sequence[str] = ()) -> dict:
    """``knit plan resource -s K=V -u K``: unset first, then set."""
    updates = dict(parse_resource(k, v) for k, v in set_.items())
    with write_tx(knit.engine) as conn:
        resources = dict(catalog_plans.require_plan(conn, plan_id)["resources"] or {})
        for key in unset:
            resources.pop(key.strip(), None)
        resources.update(updates)
        catalog_plans.set_fields(conn, plan_id, resources=resources)
    return show(knit, plan_id)


def annotate(
    knit: Knit, plan_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = (), remove_keys: Sequence[str] = ()
) -> dict:
    """Edit annotations (``key=value``): removals before additions; a key added twice keeps the last."""
    to_add = [parse_annotation(a, field="add") for a in add]
    to_remove = {str(parse_annotation(a, field="remove")) for a in remove}
    keys = {k.strip() for k in remove_keys}
    with write_tx(knit.engine) as conn:
        current = [parse_annotation(a) for a in catalog_plans.require_plan(conn, plan_id)["annotations"] or []]
        kept = {a.key: a for a in current if str(a) not in to_remove and a.key not in keys}
        kept.update({a.key: a for a in to_add})
        catalog_plans.set_fields(conn, plan_id, annotations=[str(a) for a in sorted(kept.values())])
    return show(knit, plan_id)


def set_service_account(knit: Knit, plan_id: str, name: str | None) -> dict:
    """Set (or with None, unset) the service account the Plan's pods run as."""
    account = validate_service_account(name) if name is not None else None
    with write_tx(knit.engine) as conn:
        catalog_plans.set_fields(conn, plan_id, service_account=account)
    return show(knit, plan_id)
