"""Runs in Knitfab's JSON shape."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from knit_provider.api.knit import knit
from knit_provider.core.errors import KnitError
from knit_provider.operators.links import knit_run_id_of
from knit_provider.service import runs as service_runs

router = APIRouter(prefix="/runs", tags=["runs"])


@router.get("/{run_id}")
def run_detail(run_id: str) -> dict:
    """A Run; also accepts the DagRun id (``knit__<run id>``) that carries it."""
    try:
        return service_runs.show(knit(), knit_run_id_of(run_id) or run_id)
    except KnitError as err:
        raise HTTPException(status_code=err.http_status, detail=str(err)) from None
