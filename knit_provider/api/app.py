"""The Knit FastAPI app mounted at ``/knit`` on Airflow's api-server, behind Airflow's auth.

This is the seed of the REST API: read-only Run lookups that Airflow's DagRuns link to. Every route depends
on ``GetUserDep``, so an anonymous request gets 401 like Airflow's own API.
"""

from __future__ import annotations

from functools import lru_cache

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, HTTPException

from knit_provider.core.errors import KnitError
from knit_provider.hooks.knit import KnitHook
from knit_provider.operators.links import knit_run_id_of
from knit_provider.service import runs as service_runs
from knit_provider.service.context import Knit


@lru_cache(maxsize=1)
def _knit() -> Knit:
    return KnitHook().get_conn()


def create_app() -> FastAPI:
    app = FastAPI(title="Knit", description="Knitfab's Data, Plans, Runs and lineage on Airflow")

    @app.get("/api/runs/{run_id}")
    def run_detail(run_id: str, user: GetUserDep) -> dict:
        """A Run in Knitfab's JSON shape; also accepts the DagRun id (``knit__<run id>``) that carries it."""
        try:
            return service_runs.show(_knit(), knit_run_id_of(run_id) or run_id)
        except KnitError as err:
            raise HTTPException(status_code=err.http_status, detail=str(err)) from None

    return app
