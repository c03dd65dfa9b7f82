"""The Knit FastAPI app mounted at ``/knit`` on Airflow's api-server, behind Airflow's auth.

``/knit/api/...`` is the REST API (``api.rest``), the rest are pages (``api.pages``); both routers carry
Airflow's authentication dependency, so an anonymous request gets 401 like Airflow's own API.
"""

from __future__ import annotations

from fastapi import FastAPI

from knit_provider.api import pages, rest


def create_app() -> FastAPI:
    app = FastAPI(title="Knit", description="Knitfab's Data, Plans, Runs and lineage on Airflow")
    app.include_router(rest.router)
    app.include_router(pages.router)
    return app
