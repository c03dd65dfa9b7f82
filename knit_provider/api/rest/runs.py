"""Runs under ``/api/runs``, at Knitfab's paths: find, show, log, abort/tearoff (stop), retry, delete.

Every ``{run_id}`` also accepts the id of the DagRun carrying the Run (``knit__<run id>``), so Airflow's UI can
link a DagRun to its Knit Run.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from knit_provider.api.knit import KnitDep
from knit_provider.api.rest.common import (
    DELETE_RUNS,
    EDIT_RUNS,
    READ,
    TRIGGER,
    documented,
    resource_router,
    run_id_of,
)
from knit_provider.api.rest.listing import CursorQuery, LimitQuery, page_response, paged, streamed_list
from knit_provider.api.rest.models import Run
from knit_provider.service import runs as run_service

router = resource_router("/runs", "runs")


def _ids(values: list[str]) -> list[str]:
    """Knitfab joins repeated values with commas (``?plan=a,b``); repeats (``?plan=a&plan=b``) work too."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


IdsQuery = Annotated[list[str], Query(description="comma separated and/or repeated (OR)")]


@router.get("", summary="Find Runs", **documented(list[Run]), dependencies=READ)
def find_runs(
    request: Request,
    knit: KnitDep,
    plan: IdsQuery = [],  # noqa: B006 - FastAPI copies defaults
    knitIdInput: IdsQuery = [],  # noqa: B006,N803 - Knitfab's parameter names
    knitIdOutput: IdsQuery = [],  # noqa: B006,N803
    status: IdsQuery = [],  # noqa: B006
    since: Annotated[str | None, Query(description="RFC 3339: updated at or after")] = None,
    duration: Annotated[str | None, Query(description="with since: a window such as 2h or 30m")] = None,
    limit: LimitQuery = None,
    cursor: CursorQuery = None,
) -> Response:
    """``knit run find``: repeats of one filter are OR, different filters AND. With ``limit`` (and ``cursor``):
    one page, newest created first, its neighbours in the ``Link`` header; without: every match, oldest update
    first (Knitfab's order), streamed."""
    filters = {
        "plan_ids": _ids(plan),
        "input_ids": _ids(knitIdInput),
        "output_ids": _ids(knitIdOutput),
        "statuses": _ids(status),
        "since": since,
        "duration": duration,
    }
    if paged(limit, cursor):
        return page_response(request, run_service.find_page(knit, **filters, limit=limit, cursor=cursor))
    return streamed_list(run_service.find_iter(knit, **filters))


@router.get("/{run_id}", summary="One Run", **documented(Run), dependencies=READ)
def run_detail(run_id: str, knit: KnitDep) -> dict:
    """``knit run show``; also accepts the DagRun id (``knit__<run id>``) that carries the Run."""
    return run_service.show(knit, run_id_of(run_id))


def _flag(value: str | None) -> bool:
    """Knitfab's client sends a bare ``?follow``; ``follow=false`` / ``0`` / ``no`` turn it off."""
    return value is not None and value.strip().lower() not in ("false", "0", "no")


@router.get(
    "/{run_id}/log",
    summary="A Run's log (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    dependencies=READ,
)
async def run_log(
    run_id: str,
    knit: KnitDep,
    follow: Annotated[str | None, Query(description="present (`?follow`): keep streaming until the Run ends")] = None,
) -> StreamingResponse:
    """``knit run show --log [-f]``: the log as text, with ``follow`` until the Run has finished."""
    chunks = run_service.follow_log(knit, run_id_of(run_id), follow=_flag(follow))
    first = await anyio.to_thread.run_sync(next, chunks)  # a missing Run or log is an error reply, not a stream

    async def body():
        yield first
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk

    return StreamingResponse(body(), media_type="text/plain; charset=utf-8")


@router.put("/{run_id}/abort", summary="Stop a Run as failed", **documented(Run), dependencies=EDIT_RUNS)
def abort_run(run_id: str, knit: KnitDep) -> dict:
    """``knit run stop --fail``: the Run ends failed (exit 253)."""
    return run_service.stop(knit, run_id_of(run_id), fail=True)


@router.put("/{run_id}/tearoff", summary="Stop a Run as done", **documented(Run), dependencies=EDIT_RUNS)
def tearoff_run(run_id: str, knit: KnitDep) -> dict:
    """``knit run stop``: the Run ends done (stopped by user); its outputs so far are kept."""
    return run_service.stop(knit, run_id_of(run_id), fail=False)


@router.put("/{run_id}/retry", summary="Retry a Run", **documented(Run), dependencies=TRIGGER)
def retry_run(run_id: str, knit: KnitDep) -> dict:
    """``knit run retry``: a done or failed Run waits again with new outputs (refused while they are used)."""
    return run_service.retry(knit, run_id_of(run_id))


@router.delete("/{run_id}", summary="Remove a Run", status_code=204, dependencies=DELETE_RUNS)
def remove_run(run_id: str, knit: KnitDep) -> Response:
    """``knit run rm``: an upload goes with its Data; other Runs stay as invalidated tombstones."""
    run_service.remove(knit, run_id_of(run_id))
    return Response(status_code=204)
