"""Run pages: the list with ``knit run find``'s filters, and one Run with its log and its Airflow DagRun and task."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from knit_provider.api.knit import knit
from knit_provider.api.pages.render import Links, message, page, shows_errors
from knit_provider.core.errors import KnitError, NotFound
from knit_provider.core.layout import LOG_FILE
from knit_provider.core.lifecycle import RunStatus
from knit_provider.service import runs as run_service
from knit_provider.service.context import Knit
from knit_provider.service.execution import DAGRUN_PREFIX, dagrun_id, plan_dag_id

router = APIRouter()
KnitDep = Annotated[Knit, Depends(knit)]
PAGE_SIZE = 100
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
    page_no: Annotated[int, Query(alias="page", ge=1)] = 1,
) -> Response:
    """Newest update first; ``knit run find -p ... -s ... -i ... -o ... --since ... --duration ...``."""
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
        found = run_service.find(
            knit_,
            plan_ids=_ids(plan),
            input_ids=_ids(input_id),
            output_ids=_ids(output_id),
            statuses=status,
            since=since or None,
            duration=duration or None,
        )
    except KnitError as err:
        return page(
            request, "run_list.html", status=400, rows=[], total=0, page_no=1, pages=1, **{**context, "error": str(err)}
        )
    found.reverse()
    pages = max(1, -(-len(found) // PAGE_SIZE))
    page_no = min(page_no, pages)
    rows = found[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
    return page(request, "run_list.html", rows=rows, total=len(found), page_no=page_no, pages=pages, **context)


def _log_tail(knit_: Knit, run: dict) -> tuple[str | None, bool]:
    """The last ``LOG_TAIL_BYTES`` of the Run's log (None when its Plan keeps none), and whether it was cut."""
    if run["log"] is None:
        return None, False
    log_id = run["log"]["knitId"]
    log_file = knit_.store.path(log_id) / LOG_FILE if knit_.store.exists(log_id) else None
    size = log_file.stat().st_size if log_file is not None and log_file.exists() else 0
    start = max(0, size - LOG_TAIL_BYTES)
    text, _ = run_service.read_log(knit_, run["runId"], start)
    return text, start > 0


@router.get("/runs/{run_id}", include_in_schema=False)
@shows_errors
def run_detail(request: Request, knit_: KnitDep, run_id: str) -> Response:
    """Also the DagRun's "Knit Run" tab: a DagRun id ``knit__<run id>`` leads to its Run."""
    if run_id.startswith(DAGRUN_PREFIX):
        return RedirectResponse(Links.of(request).run(run_id[len(DAGRUN_PREFIX) :]), status_code=303)
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
    return page(request, "run_detail.html", run=run, airflow=airflow, log_text=log_text, log_cut=log_cut)
