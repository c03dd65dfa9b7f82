"""What every REST module shares: the catalog dependency, the access checks, the router factory.

Access is asked of Airflow's auth manager exactly as Airflow's own DAG routes ask it (``requires_access_dag``),
for the DAGs in general: Knit reads need DAG-run read access, anything that creates Runs needs DAG-run trigger
(POST) access, Plan edits need DAG edit (PUT) access, stopping Runs DAG-run edit, removing Runs DAG-run delete.
With Airflow's SimpleAuthManager a ``viewer`` reads and a ``user`` (or higher) writes. Every route names exactly
one of ``READ``, ``TRIGGER``, ``EDIT_PLANS``, ``EDIT_RUNS``, ``DELETE_RUNS`` (a test checks it).
"""

from __future__ import annotations

from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import APIRouter, Depends, Query, Request

from knit_provider.api.errors import ERROR_RESPONSES, KnitRoute
from knit_provider.api.knit import settings
from knit_provider.core.airflow_names import run_id_of_dagrun


def upload_limit() -> int | None:
    """``[knit] max_upload_bytes``: the most an upload may unpack to (None: unlimited); a dependency for tests."""
    return settings().max_upload_bytes or None


UploadLimitDep = Annotated[int | None, Depends(upload_limit)]


def backfill_limit() -> int:
    """``[knit] backfill_confirm``: the most Runs a Plan's apply creates unconfirmed; a dependency for tests."""
    return settings().backfill_confirm


BackfillLimitDep = Annotated[int, Depends(backfill_limit)]
DryRunQuery = Annotated[bool, Query(description="true: what it would do (checks, Runs, downstream), nothing written")]

_read_runs = requires_access_dag("GET", DagAccessEntity.RUN)
_trigger_runs = requires_access_dag("POST", DagAccessEntity.RUN)
_edit_dags = requires_access_dag("PUT")
_edit_runs = requires_access_dag("PUT", DagAccessEntity.RUN)
_delete_runs = requires_access_dag("DELETE", DagAccessEntity.RUN)


def can_read(request: Request, user: GetUserDep) -> None:
    """Data, Plans, Runs, logs, graphs: what a DAG-run reader may see."""
    _read_runs(request, user)


def can_trigger(request: Request, user: GetUserDep) -> None:
    """Writes that create Runs (upload, tag edit, plan apply, retry): triggering DAG runs."""
    _trigger_runs(request, user)


def can_edit_plans(request: Request, user: GetUserDep) -> None:
    """A Plan's mutable fields (active, resources, annotations, service account): editing a DAG."""
    _edit_dags(request, user)


def can_edit_runs(request: Request, user: GetUserDep) -> None:
    """Stopping a Run: changing a DAG run's state."""
    _edit_runs(request, user)


def can_delete_runs(request: Request, user: GetUserDep) -> None:
    """Removing a Run: deleting a DAG run."""
    _delete_runs(request, user)


READ = [Depends(can_read)]
TRIGGER = [Depends(can_trigger)]
EDIT_PLANS = [Depends(can_edit_plans)]
EDIT_RUNS = [Depends(can_edit_runs)]
DELETE_RUNS = [Depends(can_delete_runs)]
ACCESS_CHECKS = (can_read, can_trigger, can_edit_plans, can_edit_runs, can_delete_runs)


def resource_router(prefix: str, tag: str) -> APIRouter:
    """A router whose errors leave as Knit's error JSON and whose OpenAPI lists them."""
    return APIRouter(prefix=prefix, tags=[tag], route_class=KnitRoute, responses=ERROR_RESPONSES)


def documented(model: Any, description: str = "OK") -> dict[str, Any]:
    """Route keywords that show ``model`` on the OpenAPI page while the route returns the service's dict as is
    (no response validation: the service's JSON is the contract, the model only describes it)."""
    return {"response_model": None, "responses": {200: {"model": model, "description": description}}}


def run_id_of(run_id: str) -> str:
    """A Knit run id, or the DagRun id (``knit__<run id>``) that carries it."""
    return run_id_of_dagrun(run_id) or run_id
