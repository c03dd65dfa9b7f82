"""Run pages: the list with ``knit run find``'s filters, and one Run with its log and its Airflow DagRun and task."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from knit_provider.api.knit import KnitDep
from knit_provider.api.pages.render import Links, message, page, shows_errors
from knit_provider.core.airflow_names import DAGRUN_PREFIX, dagrun_id, plan_dag_id, run_id_of_dagrun
from knit_provider.core.errors import KnitError, NotFound
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.paging import Page
from knit_provider.service import explain as explain_service
from knit_provider.service import runs as run_service
from knit_provider.service.context import Knit

router = APIRouter()
PAGE_SIZE = 100
COUNT_CAP = 10_000
LOG_TAIL_BYTES = 256 * 1024
#: Statuses whose Run has not been handed to Airflow yet: no DagRun to link to.
NOT_DISPATCHED = {RunStatus.DEACTIVATED.value, RunStatus.WAITING.value}


def _ids(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


@router.get("/runs", include_in_schema=False)
@shows_errors
def run_list(
    request: Request,
    knit_: KnitDep,
    plan: str = "",
    status: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    input_id: str = "",
    output_id: str = "",
    since: str = "",
    duration: str = "",
    cursor: str = "",
) -> Response:
    """Newest first (by creation: pages stay put while Runs change status), a page at a time (keyset:
    ``cursor``); ``knit run find -p ... -s ... -i ... -o ... --since ... --duration ...``."""
    form = {
        "plan": plan,
        "status": status,
        "input_id": input_id,
        "output_id": output_id,
        "since": since,
        "duration": duration,
    }
    context = {"form": form, "statuses": [s.value for s in RunStatus], "error": None}
    try:
        found = run_service.find_page(
            knit_,
            plan_ids=_ids(plan),
            input_ids=_ids(input_id),
            output_ids=_ids(output_id),
            statuses=status,
            since=since or None,
            duration=duration or None,
            limit=PAGE_SIZE,
            cursor=cursor or None,
            count_up_to=COUNT_CAP,
        )
    except KnitError as err:
        return page(request, "run_list.html", status=400, found=Page([], total=0), **{**context, "error": str(err)})
    return page(request, "run_list.html", found=found, **context)


def _log_tail(knit_: Knit, run: dict) -> tuple[str | None, bool]:
    """The last ``LOG_TAIL_BYTES`` of the Run's log (None when its Plan keeps none), and whether it was cut."""
    if run["log"] is None:
        return None, False
    start = max(0, run_service.log_size(knit_, run) - LOG_TAIL_BYTES)
    text, _ = run_service.read_log(knit_, run["runId"], start)
    return text, start > 0


@router.get("/runs/{run_id}", include_in_schema=False)
@shows_errors
def run_detail(request: Request, knit_: KnitDep, run_id: str) -> Response:
    """Also the DagRun's "Knit Run" tab: a DagRun id ``knit__<run id>`` leads to its Run."""
    carried = run_id_of_dagrun(run_id)
    if carried is not None:
        return RedirectResponse(Links.of(request).run(carried), status_code=303)
    try:
        run = run_service.show(knit_, run_id)
    except NotFound:
        return message(
            request,
            "No Knit Run",
            f"There is no Knit Run {run_id} (an Airflow DagRun started by Knit "
            f"has an id starting with {DAGRUN_PREFIX}).",
        )
    plan = run["plan"]
    airflow = None
    if plan.get("image") and run["status"] not in NOT_DISPATCHED:
        airflow = {"dag_id": plan_dag_id(plan["image"], plan["planId"]), "dagrun_id": dagrun_id(run_id)}
    log_text, log_cut = _log_tail(knit_, run)
    why = explain_service.run(knit_, run_id)
    return page(request, "run_detail.html", run=run, airflow=airflow, log_text=log_text, log_cut=log_cut, why=why)
