"""The Retention page: the declared retention policies and what each did last (``knit_retention``'s reports)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from knit_provider.api.knit import KnitDep
from knit_provider.api.pages.render import page
from knit_provider.core.errors import KnitError
from knit_provider.hooks.retention import declared_retention
from knit_provider.service import retention as retention_service

router = APIRouter()
#: purged knit ids listed per report (the count says how many there were)
IDS_SHOWN = 50


@router.get("/retention", include_in_schema=False)
def retention_page(request: Request, knit_: KnitDep) -> Response:
    """Policies with their selection, and each one's last report; a policy file that cannot be read is shown as
    the error it is (the DAG's task fails with the same line)."""
    try:
        overview = retention_service.overview(knit_, declared_retention())
        error = None
    except KnitError as err:
        overview, error = {"source": "", "policies": [], "reports": {}}, str(err)
    return page(request, "retention.html", overview=overview, error=error, ids_shown=IDS_SHOWN)
