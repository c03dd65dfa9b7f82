"""After a write that created Runs, start their DagRuns at once, as the caller, through Airflow's own REST API.

The write's response does not wait for it (a background task after the response). The caller's token (bearer
header or the UI's cookie) is used, so a DagRun is created only by someone Airflow lets trigger DAG runs; whatever
is refused or fails is left to the generator, which starts it a moment later: nothing depends on this succeeding.
"""

from __future__ import annotations

import logging

from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from fastapi import BackgroundTasks, Request

from knit_provider.airflow_client.dagruns import AirflowEndpoint, DagRunStarter
from knit_provider.service.context import Knit
from knit_provider.service.starting import start_through_api

log = logging.getLogger(__name__)


def caller_endpoint(request: Request) -> AirflowEndpoint | None:
    """This api-server's base URL (the Knit app's mount point stripped) with the caller's token."""
    authorization = request.headers.get("authorization", "")
    token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    token = token or request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    if not token:
        return None
    root = request.scope.get("root_path", "").rstrip("/")
    airflow_root = root[: -len("/knit")] if root.endswith("/knit") else root
    return AirflowEndpoint(url=f"{request.url.scheme}://{request.url.netloc}{airflow_root}", token=token)


def _start(knit: Knit, endpoint: AirflowEndpoint) -> None:
    try:
        with DagRunStarter(endpoint) as starter:
            report = start_through_api(knit, starter)
    except Exception:  # the Runs stay recorded as waiting; the generator starts them
        log.exception("starting new Runs through %s failed; left to the generator", endpoint.url)
        return
    if report.deferred:
        log.info("Runs left to the generator: %s", report.deferred)


def start_new_runs(request: Request, background: BackgroundTasks, knit: Knit) -> None:
    """Schedule the start of every waiting Run once the response has been sent."""
    endpoint = caller_endpoint(request)
    if endpoint is not None:
        background.add_task(_start, knit, endpoint)
