"""Finding Plans (``knit plan find``, the Plans page): the filters as one query, read whole or as pages."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Select, select

from knit_provider.catalog import paging
from knit_provider.catalog.models import UPLOAD_PLAN_ID, inputs_t, plans_t
from knit_provider.core.paging import Cursor, Key

#: an unordered query of ``(plan_id, created_at)``, which callers hand back to this module's readers (or to
#: ``paging.count_capped``)
PlanQuery = Select


def plans_pinned_to(conn: Connection, *, knit_id: str | None, timestamp_ms: int | None) -> set[str]:
    """Plans having one input pinned to ``knit_id`` and (when given) to ``timestamp_ms``, as Knitfab's
    ``knit#id`` / ``knit#timestamp`` input tags ask (pins match the inputs' pins, never their tags)."""
    query = select(inputs_t.c.plan_id)
    if knit_id is not None:
        query = query.where(inputs_t.c.pin_knit_id == knit_id)
    if timestamp_ms is not None:
        query = query.where(inputs_t.c.pin_timestamp == timestamp_ms)
    return set(conn.execute(query).scalars())


def _image_condition(repository: str, tag: str | None):
    """``--image repo`` finds every tag of ``repo``; ``--image repo:tag`` that tag (with or without a digest)."""
    prefix = f"{repository}:{tag}@" if tag is not None else f"{repository}:"
    exact = plans_t.c.image == (f"{repository}:{tag}" if tag is not None else repository)
    return exact | plans_t.c.image.startswith(prefix, autoescape=True)


def plan_query(
    *, active: bool | None, image: tuple[str, str | None] | None, within: Iterable[set[str]] = ()
) -> PlanQuery:
    """The Plans (never the upload pseudo-plan) that are ``active`` (None: either), whose image matches
    ``(repository, tag)`` (None: any), and that are in every set of ``within``."""
    query = select(plans_t.c.plan_id, plans_t.c.created_at).where(plans_t.c.plan_id != UPLOAD_PLAN_ID)
    if active is not None:
        query = query.where(plans_t.c.active == active)
    if image is not None:
        query = query.where(_image_condition(*image))
    for allowed in within:
        query = query.where(plans_t.c.plan_id.in_(allowed))
    return query


def plan_ids_oldest_first(conn: Connection, query: PlanQuery) -> list[str]:
    """Ids of every Plan of ``query``, oldest first."""
    return list(conn.execute(query.order_by(plans_t.c.created_at, plans_t.c.plan_id)).scalars())


def plan_page_keys(conn: Connection, query: PlanQuery, *, limit: int, cursor: Cursor | None) -> tuple[list[Key], bool]:
    """Keys of one page of ``query``'s Plans, newest first (see ``paging.page_keys``)."""
    return paging.page_keys(conn, query, plans_t.c.created_at, plans_t.c.plan_id, limit=limit, cursor=cursor)
