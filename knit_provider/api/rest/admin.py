"""Administration under ``/api/admin`` (beyond Knitfab): the consistency check, where the store is, and the
lifecycle hook calls pending or given up.

``knit admin doctor`` in the remote mode calls these, so the check runs on the api-server, next to the Data store
and the catalog. Listing needs DAG-run read access; repairing removes files, so it needs DAG-run delete access
(as ``knit run rm``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from knit_provider.airflow_client.inspect import AirflowDagRuns
from knit_provider.api.knit import KnitDep, settings
from knit_provider.api.rest.common import DELETE_RUNS, READ, resource_router
from knit_provider.api.starting import caller_endpoint
from knit_provider.service import doctor as doctor_service
from knit_provider.service import lifecycle_hooks
from knit_provider.service.consistency import Rules
from knit_provider.service.context import Knit

router = resource_router("/admin", "admin")

OlderThan = Annotated[str, Query(description="grace period: only what was untouched this long (e.g. 1h, 30m)")]


def _doctor(request: Request, knit: Knit, *, fix: bool, older_than: str) -> dict:
    """Airflow's DagRuns asked as the caller (their token, through this api-server's REST API); the pods with the
    kubernetes runner, through the provider's Kubernetes hook."""
    config = settings()
    rules = Rules(config.heartbeat_timeout_s, config.reconcile_interval_s, config.default_control)
    not_checked: dict[str, str] = {}
    endpoint = caller_endpoint(request)
    if endpoint is None:
        not_checked["dagRuns"] = "the request carries no Airflow token to ask Airflow with"
    pods = None
    if config.runner == "kubernetes":
        from knit_provider.hooks.pods import KnitRunPods

        pods = KnitRunPods(config.kubernetes)
    else:
        not_checked["pods"] = f"the runner is {config.runner}: Runs have no pods"
    if endpoint is None:
        return doctor_service.doctor(knit, fix=fix, older_than=older_than, rules=rules, pods=pods,
                                     not_checked=not_checked)  # fmt: skip
    with AirflowDagRuns(endpoint) as airflow:
        return doctor_service.doctor(knit, fix=fix, older_than=older_than, rules=rules, airflow=airflow, pods=pods,
                                     not_checked=not_checked)  # fmt: skip


@router.get("/doctor", summary="List what is inconsistent in the store, the catalog, Airflow, the pods",
            dependencies=READ)  # fmt: skip
def doctor(request: Request, knit: KnitDep, older_than: OlderThan = doctor_service.DEFAULT_GRACE) -> dict:
    """``knit admin doctor``: orphaned staging and data directories, Runs nobody runs, DagRuns and pods of
    finished Runs; nothing changed."""
    return _doctor(request, knit, fix=False, older_than=older_than)


@router.post("/doctor", summary="Repair what is inconsistent", dependencies=DELETE_RUNS)
def doctor_fix(request: Request, knit: KnitDep, older_than: OlderThan = doctor_service.DEFAULT_GRACE) -> dict:
    """``knit admin doctor --fix``: the same findings, repaired."""
    return _doctor(request, knit, fix=True, older_than=older_than)


States = Annotated[list[str], Query(description="pending, failed or delivered (repeat for several)")]


@router.get("/hooks", summary="List lifecycle hook calls pending or given up", dependencies=READ)
def hooks(knit: KnitDep, state: States = ["pending", "failed"], run: str | None = None) -> list[dict]:  # noqa: B006
    """``knit admin hooks``: the outbox of Knitfab lifecycle hook calls, oldest first (URLs with credentials
    masked)."""
    return lifecycle_hooks.deliveries(knit, states=tuple(state), run_id=run or None)
