"""Explanations (beyond Knitfab): ``knit explain`` over HTTP. Reads only, so DAG-run read access.

``GET /data/{id}/explain[?plan=ID]``, ``GET /runs/{id}/explain`` (also the DagRun id ``knit__<run id>``) and
``GET /plans/{id}/near-misses``; each calls the ``service.explain`` function the local ``knit explain`` calls.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from knit_provider.api.knit import KnitDep
from knit_provider.api.rest.common import READ, resource_router, run_id_of
from knit_provider.service import explain as explain_service

router = resource_router("", "explain")


@router.get("/data/{knit_id}/explain", summary="Why a Data is (not) used by each Plan", dependencies=READ)
def explain_data(
    knit_id: str,
    knit: KnitDep,
    plan: Annotated[str | None, Query(description="only the inputs of this Plan")] = None,
) -> dict:
    """``knit explain KNIT_ID``: for every Plan input, whether the Data is nominated there and every reason."""
    return explain_service.data(knit, knit_id, plan_id=plan)


@router.get("/runs/{run_id}/explain", summary="Why a Run exists and is in its status", dependencies=READ)
def explain_run(run_id: str, knit: KnitDep) -> dict:
    """``knit explain run RUN_ID``: the event that created it (when, by whom) and why it is where it is."""
    return explain_service.run(knit, run_id_of(run_id))


@router.get("/plans/{plan_id}/near-misses", summary="Data lacking one tag of a Plan's input", dependencies=READ)
def near_misses(plan_id: str, knit: KnitDep) -> dict:
    """``knit explain plan PLAN_ID``: usable Data that lack exactly one tag of one of the Plan's inputs."""
    return explain_service.near_misses(knit, plan_id)
