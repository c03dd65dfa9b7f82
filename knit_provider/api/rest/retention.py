"""Retention (beyond Knitfab) under ``/api/retention``: purge by a selection, and the declared policies.

``GET /retention/preview`` (a dry run: DAG-run read access, nothing changes; the selection as query parameters)
and ``POST /retention/purge`` (DAG-run delete access, as ``knit data purge``; the selection as a JSON body) take
the same selection; ``GET /retention`` lists the declared policies and each one's last report. ``knit data purge
--where`` in the remote mode calls these.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict

from knit_provider.api.knit import KnitDep
from knit_provider.api.rest.common import DELETE_RUNS, READ, resource_router
from knit_provider.hooks.retention import declared_retention
from knit_provider.service import retention as retention_service

router = resource_router("/retention", "retention")


class Where(BaseModel):
    """Which Data: ``knit data purge --where``'s options (at least one)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"tags": ["type:model"], "keep_last": 3, "per": ["project"]}}
    )
    tags: list[str] = []
    transient: str = "both"
    keep_last: int | None = None
    per: list[str] = []
    older_than: str | None = None
    superseded: bool = False


@router.get("/preview", summary="What a retention selection would purge (nothing changes)", dependencies=READ)
def preview(
    knit: KnitDep,
    tag: Annotated[list[str], Query(description="Data carrying all these tags")] = [],  # noqa: B006
    transient: Annotated[str, Query(description="both, no (usable only) or failed")] = "both",
    keep_last: Annotated[int | None, Query(description="keep the N newest of each group")] = None,
    per: Annotated[list[str], Query(description="group by these tag keys")] = [],  # noqa: B006
    older_than: Annotated[str | None, Query(description="only Data older than this (30d, 12h)")] = None,
    superseded: Annotated[bool, Query(description="only Data a Run used and no unfinished Run uses")] = False,
) -> dict:
    """``knit data purge --where ... --dry-run``: the Data that would go, the bytes freed, what is protected."""
    where = Where(
        tags=tag, transient=transient, keep_last=keep_last, per=per, older_than=older_than, superseded=superseded
    )
    return retention_service.purge_where(knit, where.model_dump(), dry_run=True)


@router.post("/purge", summary="Purge the Data a retention selection chooses", dependencies=DELETE_RUNS)
def purge(where: Where, knit: KnitDep) -> dict:
    """``knit data purge --where ...``: Data that are inputs of unfinished Runs (or being downloaded) are never
    purged; they are reported as protected or skipped."""
    return retention_service.purge_where(knit, where.model_dump(), dry_run=False)


@router.get("", summary="The declared retention policies and their last reports", dependencies=READ)
def policies(knit: KnitDep) -> dict[str, Any]:
    """From the ``knit`` connection's ``retention`` extra, else ``<knit home>/retention.yaml``."""
    return retention_service.overview(knit, declared_retention())
