"""The Knit UI pages (server-rendered HTML) under ``/knit``: Data, Plans, Runs and the lineage viewer.

Every route sits behind Airflow's authentication (``api.auth.AUTHENTICATED``); :func:`auth.login_redirect` runs
first so a browser without a session is sent to Airflow's login page instead of a bare 401. Access follows the
REST API's rules (``api.rest.common``): reading needs DAG-run read access, a tag edit DAG-run trigger access, the
Plan active toggle DAG edit access; a user without them gets Airflow's 403.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from knit_provider.api.auth import AUTHENTICATED
from knit_provider.api.pages import data, lineage, plans, retention, runs, static
from knit_provider.api.pages.auth import login_redirect
from knit_provider.api.rest.common import can_read

router = APIRouter(dependencies=[Depends(login_redirect), *AUTHENTICATED, Depends(can_read)])
for module in (static, data, plans, runs, lineage, retention):
    router.include_router(module.router)
