"""Plan use cases: apply, show, find, and the mutable fields (active, resources, annotations, account)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from importlib import metadata

from knit_provider.catalog import paging
from knit_provider.catalog import plans as catalog_plans
from knit_provider.catalog.edges import inputs_carrying, outputs_feeding, plans_of_ports
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.catalog.models import UPLOAD_PLAN_ID
from knit_provider.catalog.plan_find import (
    PlanQuery,
    plan_ids_oldest_first,
    plan_page_keys,
    plan_query,
    plans_pinned_to,
)
from knit_provider.catalog.plan_views import plan_details
from knit_provider.catalog.tagstore import lookup_tag_ids
from knit_provider.core.errors import InvalidInput, NotFound, UsageError, shown
from knit_provider.core.k8s_names import parse_image_filter
from knit_provider.core.notify import SCHEMES, missing_provider, notifications
from knit_provider.core.paging import Page, check_limit, neighbours, parse_cursor
from knit_provider.core.plan_spec import (
    PlanSpec,
    parse_annotation,
    parse_plan_yaml,
    parse_resource,
    validate_service_account,
)
from knit_provider.core.run_control import parse_retry_count, parse_retry_delay, parse_timeout
from knit_provider.core.tags import KEY_ID, KEY_TIMESTAMP, parse_tag
from knit_provider.core.timefmt import parse_rfc3339
from knit_provider.service.context import Knit
from knit_provider.service.settings import default_backfill_confirm

ACTIVE_CHOICES = {"both": None, "yes": True, "true": True, "no": False, "false": False}


def apply(knit: Knit, spec: PlanSpec | str, *, yes: bool = False, backfill_confirm: int | None = None) -> dict:
    """Register a Plan (YAML text or a parsed spec) and create the Runs existing Data already cause.

    A backfill of more Runs than ``backfill_confirm`` (``[knit] backfill_confirm``; None: ``KNIT_BACKFILL_CONFIRM``
    or the default; 0: no limit) is refused, naming the count and changing nothing, unless ``yes``.
    """
    if isinstance(spec, str):
        spec = parse_plan_yaml(spec)
    check_notifications(((a.key, a.value) for a in spec.annotations), field="annotations")
    limit = default_backfill_confirm() if backfill_confirm is None else backfill_confirm
    with knit.write() as conn:
        plan_id, created = catalog_plans.insert_plan(conn, spec, max_runs=None if yes or not limit else limit)
    knit.runs_waiting(created)
    return show(knit, plan_id)


def show(knit: Knit, plan_id: str) -> dict:
    with read_tx(knit.engine) as conn:
        found = plan_details(conn, [plan_id]) if plan_id != UPLOAD_PLAN_ID else []
    if not found:
        raise NotFound(f"plan not found: {plan_id}")
    return found[0]


def _plans_with_output(conn, tags: Sequence[str]) -> set[str] | None:
    """Plans having one output (or log) that carries all ``tags``; None when no filter."""
    if not tags:
        return None
    parsed = {parse_tag(t, field="out-tag") for t in tags}
    ids = lookup_tag_ids(conn, parsed)
    if len(ids) < len(parsed):  # a tag no output has (system tags included: no output carries one)
        return set()
    return plans_of_ports(conn, output_ids=outputs_feeding(conn, set(ids.values())))


def _plans_with_input(conn, tags: Sequence[str]) -> set[str] | None:
    """Plans having one input that carries all the user ``tags``, and one input pinned as the ``knit#id`` /
    ``knit#timestamp`` tags say (Knitfab's query: pins match the inputs' pins, never their tags); None when no
    filter. Two different pins of one kind, or another system tag, match no input."""
    if not tags:
        return None
    parsed = {parse_tag(t, field="in-tag") for t in tags}
    user = {t for t in parsed if not t.is_system}
    pin_ids = {t.value for t in parsed if t.key == KEY_ID}
    pin_times = {parse_rfc3339(t.value, field="in-tag") for t in parsed if t.key == KEY_TIMESTAMP}
    if len(pin_ids) > 1 or len(pin_times) > 1 or len(user) + len(pin_ids) + len(pin_times) < len(parsed):
        return set()
    found: set[str] | None = None
    if user:
        ids = lookup_tag_ids(conn, user)
        if len(ids) < len(user):
            return set()
        found = plans_of_ports(conn, input_ids=inputs_carrying(conn, set(ids.values())))
    if pin_ids or pin_times:
        pinned = plans_pinned_to(conn, knit_id=next(iter(pin_ids), None), timestamp_ms=next(iter(pin_times), None))
        found = pinned if found is None else found & pinned
    return found


def _plan_query(conn, active: str, image: str | None, in_tags: Sequence[str], out_tags: Sequence[str]) -> PlanQuery:
    """``knit plan find``'s filters as one query of ``(plan_id, created_at)``; ``--image repo`` finds every tag of
    ``repo``, ``--image repo:tag`` that tag (with or without a digest)."""
    image_filter = parse_image_filter(image) if image else None
    within = [a for a in (_plans_with_input(conn, in_tags), _plans_with_output(conn, out_tags)) if a is not None]
    return plan_query(active=ACTIVE_CHOICES[active], image=image_filter, within=within)


def _check_active(active: str) -> None:
    if active not in ACTIVE_CHOICES:
        raise UsageError(f"unknown --active value: {shown(active)} (both, yes or no)", field="active")


def find(
    knit: Knit,
    *,
    active: str = "both",
    image: str | None = None,
    in_tags: Sequence[str] = (),
    out_tags: Sequence[str] = (),
) -> list[dict]:
    """Plans by activeness, image (``repo`` or ``repo:tag``) and tags carried by one input / one output."""
    _check_active(active)
    with read_tx(knit.engine) as conn:
        query = _plan_query(conn, active, image, in_tags, out_tags)
        ids = plan_ids_oldest_first(conn, query)
        return plan_details(conn, ids)


def find_page(
    knit: Knit,
    *,
    active: str = "both",
    image: str | None = None,
    in_tags: Sequence[str] = (),
    out_tags: Sequence[str] = (),
    limit: int | None = None,
    cursor: str | None = None,
    count_up_to: int = 0,
) -> Page:
    """One page of ``find``'s matches, newest first, from ``cursor`` on (the REST API's and the Plans page's list)."""
    _check_active(active)
    size = check_limit(limit)
    position = parse_cursor(cursor, "plan")
    with read_tx(knit.engine) as conn:
        query = _plan_query(conn, active, image, in_tags, out_tags)
        keys, more = plan_page_keys(conn, query, limit=size, cursor=position)
        items = plan_details(conn, [k.ident for k in keys])
        total, capped = (None, False)
        if count_up_to:
            total, capped = paging.count_capped(conn, query, count_up_to)
    older, newer = neighbours("plan", keys, more, position)
    return Page(items, next=older, prev=newer, total=total, total_capped=capped)


def set_active(knit: Knit, plan_id: str, active: bool) -> dict:
    """Activate or deactivate: waiting <-> deactivated Runs follow; nothing else changes."""
    with knit.write() as conn:
        flipped = catalog_plans.set_active(conn, plan_id, active)
    knit.runs_waiting(flipped if active else [])
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
    """Edit annotations (``key=value``): removals (pairs, then keys) before additions. As Knitfab, a key may
    hold several values (``key=a`` and ``key=b``); only an exact duplicate is one annotation."""
    to_add = {parse_annotation(a, field="add") for a in add}
    check_notifications(((a.key, a.value) for a in to_add), field="add")
    to_remove = {parse_annotation(a, field="remove") for a in remove}
    keys = {k.strip() for k in remove_keys}
    with write_tx(knit.engine) as conn:
        current = {parse_annotation(a) for a in catalog_plans.require_plan(conn, plan_id)["annotations"] or []}
        kept = {a for a in current - to_remove if a.key not in keys} | to_add
        catalog_plans.set_fields(conn, plan_id, annotations=[str(a) for a in sorted(kept)])
    return show(knit, plan_id)


def check_notifications(annotations: Iterable[tuple[str, str]], *, field: str) -> None:
    """``knit.notify.*`` annotations (beyond Knitfab) must name a notifier, and a ``scheme://`` one's provider must
    be installed here (where the Plan's DAG is built), or the Plan would silently notify nobody."""
    for notification in notifications(annotations, field=field):
        target = notification.target
        if target.scheme is not None and not provider_installed(target.scheme):
            raise InvalidInput(missing_provider(target), field=field)


def provider_installed(scheme: str) -> bool:
    try:
        metadata.distribution(SCHEMES[scheme].distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def set_service_account(knit: Knit, plan_id: str, name: str | None) -> dict:
    """Set (or with None, unset) the service account the Plan's pods run as."""
    account = validate_service_account(name) if name is not None else None
    with write_tx(knit.engine) as conn:
        catalog_plans.set_fields(conn, plan_id, service_account=account)
    return show(knit, plan_id)


def set_timeout(knit: Knit, plan_id: str, timeout: str | float | None) -> dict:
    """``knit plan timeout ID DURATION|--unset`` (beyond Knitfab): the attempts of its Runs that start later."""
    seconds = parse_timeout(timeout) if timeout is not None else None
    return _set_control(knit, plan_id, lambda c: replace(c, timeout_s=seconds))


def set_retries(knit: Knit, plan_id: str, count: int | None, *, delay: str | float | None = None) -> dict:
    """``knit plan retries ID N [--delay D]|--unset`` (beyond Knitfab): automatic retries of a failed attempt."""
    if count is None:
        return _set_control(knit, plan_id, lambda c: replace(c, retries=None, retry_delay_s=None))
    retries = parse_retry_count(count, field="retries")
    delay_s = parse_retry_delay(delay, field="delay") if delay is not None else None
    return _set_control(knit, plan_id, lambda c: replace(c, retries=retries, retry_delay_s=delay_s))


def _set_control(knit: Knit, plan_id: str, change) -> dict:
    with write_tx(knit.engine) as conn:
        current = catalog_plans.control_of(catalog_plans.require_plan(conn, plan_id)["run_control"])
        catalog_plans.set_fields(conn, plan_id, run_control=catalog_plans.control_to_row(change(current)))
    return show(knit, plan_id)
