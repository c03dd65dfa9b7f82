"""The Knit REST API (Knitfab-shaped JSON) under ``/knit/api``: one module per resource.

Every route needs Airflow's authentication (the router's dependency: 401 without a JWT bearer or the UI's
cookie) and one access check of ``common`` (403 when the auth manager says no), calls the same
``knit_provider.service`` function as the ``knit`` CLI, and fails with ``api.errors.ErrorBody`` JSON.
"""

from __future__ import annotations

from fastapi import APIRouter

from knit_provider.api.auth import AUTHENTICATED
from knit_provider.api.rest import admin, data, explain, graphs, plans, retention, runs

router = APIRouter(prefix="/api", dependencies=AUTHENTICATED)
for resource in (data, plans, runs, graphs, admin, explain, retention):
    router.include_router(resource.router)
