"""Request bodies (validated) and response shapes (for the OpenAPI page only: routes return the service's dicts).

The shapes are Knitfab's: tags are ``"key:value"`` strings (Knitfab's ``{"key", "value"}`` objects are accepted
in requests too), annotations ``"key=value"``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class KeyValue(BaseModel):
    """Knitfab's object form of a tag or an annotation."""

    model_config = ConfigDict(extra="forbid")
    key: str
    value: str


def tag_texts(items: list[str | KeyValue]) -> list[str]:
    return [i if isinstance(i, str) else f"{i.key}:{i.value}" for i in items]


def annotation_texts(items: list[str | KeyValue]) -> list[str]:
    return [i if isinstance(i, str) else f"{i.key}={i.value}" for i in items]


class TagChange(BaseModel):
    """``knit data tag``: removals (tags, then keys) before additions, all in one transaction."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"add": ["type:model"], "remove": []}})
    add: list[str | KeyValue] = []
    remove: list[str | KeyValue] = []
    remove_key: list[str] = []


class ResourceChange(BaseModel):
    """``knit plan resource -s K=V -u K``: unset first, then set."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"set": {"cpu": "2"}, "unset": []}})
    set: dict[str, str | int | float] = {}
    unset: list[str] = []


class AnnotationChange(BaseModel):
    """``knit plan annotate``: removals before additions."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"add": ["team=vision"]}})
    add: list[str | KeyValue] = []
    remove: list[str | KeyValue] = []
    remove_key: list[str] = []


class TimeoutChange(BaseModel):
    """``knit plan timeout`` (beyond Knitfab): a duration such as ``2h``, or null to unset."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"timeout": "2h"}})
    timeout: str | float | None = None


class RetriesChange(BaseModel):
    """``knit plan retries`` (beyond Knitfab): how many automatic retries and their delay, or count null to unset."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"count": 2, "delay": "30s"}})
    count: int | None = None
    delay: str | float | None = None


class ServiceAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    service_account: str = Field(alias="serviceAccount")


# ---- response shapes (documentation) -------------------------------------------------------------------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class PlanSummary(_Open):
    planId: str
    image: str | None = None
    name: str | None = None


class RunSummary(_Open):
    runId: str
    status: str
    updatedAt: str
    plan: PlanSummary


class Mountpoint(_Open):
    path: str
    tags: list[str]


class Data(_Open):
    """Knitfab's ``data.Detail``."""

    knitId: str
    tags: list[str] = Field(examples=[["type:dataset", "knit#id:…", "knit#timestamp:2024-05-01T10:00:00.000+00:00"]])
    upstream: dict[str, Any]
    downstreams: list[dict[str, Any]]
    nomination: list[dict[str, Any]]


class Plan(_Open):
    """Knitfab's ``plans.Detail``."""

    planId: str
    image: str
    entrypoint: list[str] | None = None
    args: list[str] | None = None
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    log: dict[str, Any] | None = None
    active: bool
    resources: dict[str, str]
    annotations: list[str] | None = None
    on_node: dict[str, list[str]] | None = None
    service_account: str | None = None


class Assignment(Mountpoint):
    knitId: str


class Run(_Open):
    """Knitfab's ``runs.Detail``."""

    runId: str
    status: str
    updatedAt: str
    exit: dict[str, Any] | None = None
    plan: PlanSummary
    inputs: list[Assignment]
    outputs: list[Assignment]
    log: dict[str, Any] | None = None


class GraphJson(_Open):
    """Nodes (``kind`` data, run, plan or root, with the ids the DOT text uses) and edges."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
