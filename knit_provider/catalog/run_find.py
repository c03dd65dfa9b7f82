"""Finding Runs (``knit run find``, the Runs page): the filters as one query, read in batches or as pages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, Select, select

from knit_provider.catalog import paging
from knit_provider.catalog.models import data_t, run_inputs_t, runs_t
from knit_provider.core.paging import Cursor, Key

#: an unordered query of Runs, which callers hand back to this module's readers (or to ``paging.count_capped``)
RunQuery = Select


def run_query(
    *,
    plan_ids: Sequence[str],
    input_ids: Sequence[str],
    output_ids: Sequence[str],
    statuses: Sequence[str],
    since_ms: int | None,
    until_ms: int | None,
) -> RunQuery:
    """The Runs matching every given kind of filter (repeats of one kind are OR, kinds AND), unordered."""
    query = select(runs_t.c.run_id, runs_t.c.created_at, runs_t.c.updated_at)
    if plan_ids:
        query = query.where(runs_t.c.plan_id.in_(list(plan_ids)))
    if input_ids:
        query = query.where(
            runs_t.c.run_id.in_(select(run_inputs_t.c.run_id).where(run_inputs_t.c.knit_id.in_(list(input_ids))))
        )
    if output_ids:
        query = query.where(runs_t.c.run_id.in_(select(data_t.c.run_id).where(data_t.c.knit_id.in_(list(output_ids)))))
    if statuses:
        query = query.where(runs_t.c.status.in_(list(statuses)))
    if since_ms is not None:
        query = query.where(runs_t.c.updated_at >= since_ms)
    if until_ms is not None:
        query = query.where(runs_t.c.updated_at < until_ms)
    return query


def run_id_batches(conn: Connection, query: RunQuery) -> Iterator[list[str]]:
    """Ids of every Run of ``query``, oldest update first (Knitfab's order), a batch at a time."""
    return paging.batched(conn, query, runs_t.c.updated_at, runs_t.c.run_id)


def run_page_keys(conn: Connection, query: RunQuery, *, limit: int, cursor: Cursor | None) -> tuple[list[Key], bool]:
    """Keys of one page of ``query``'s Runs, newest creation first (see ``paging.page_keys``)."""
    return paging.page_keys(conn, query, runs_t.c.created_at, runs_t.c.run_id, limit=limit, cursor=cursor)
