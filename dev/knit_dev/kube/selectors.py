"""``labelSelector`` and ``fieldSelector`` as the API server parses them (``k8s.io/apimachinery/pkg/labels``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from knit_dev.kube.objects import ApiError

__all__ = ["FIELDS", "field_matcher", "label_matcher"]

Matcher = Callable[[dict[str, Any]], bool]

#: the field labels the API server accepts per kind (others are a 400, as there)
FIELDS = {
    "pods": {
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    },
    "events": {
        "metadata.name",
        "metadata.namespace",
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
}

_SET_RE = re.compile(r"\s*(!?)\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*")
_OP_RE = re.compile(r"\s*([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_.-]*)\s*")
_EXISTS_RE = re.compile(r"\s*(!?)\s*([A-Za-z0-9_./-]+)\s*")


def _split(selector: str) -> list[str]:
    """Requirements are comma-separated; commas inside ``in (...)`` do not split."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def label_matcher(selector: str | None) -> Callable[[Mapping[str, str]], bool]:
    """``a=b,c!=d,!e,f,g in (x,y),h notin (z)`` -> a predicate on a label dict."""
    tests: list[Callable[[Mapping[str, str]], bool]] = []
    for part in _split(selector or ""):
        if m := _SET_RE.fullmatch(part):
            key, values = m.group(2), {v.strip() for v in m.group(4).split(",") if v.strip()}
            if m.group(3) == "in":
                tests.append(lambda labels, k=key, v=values: labels.get(k) in v)
            else:
                tests.append(lambda labels, k=key, v=values: labels.get(k) not in v)
        elif m := _OP_RE.fullmatch(part):
            key, op, value = m.groups()
            if op == "!=":
                tests.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                tests.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif m := _EXISTS_RE.fullmatch(part):
            negate, key = m.groups()
            if negate:
                tests.append(lambda labels, k=key: k not in labels)
            else:
                tests.append(lambda labels, k=key: k in labels)
        else:
            raise ApiError.bad_request(f"unable to parse requirement: {part.strip()!r} in labelSelector {selector!r}")
    return lambda labels: all(test(labels) for test in tests)


def _lookup(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):  # "source" on events is an object: the API compares its component
        value = value.get("component")
    return "" if value is None else str(value)


def field_matcher(selector: str | None, kind: str) -> Matcher:
    """``involvedObject.name=x,status.phase!=Failed`` -> a predicate on the object's JSON."""
    tests: list[Matcher] = []
    for part in _split(selector or ""):
        m = re.fullmatch(r"\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*", part)
        if m is None:
            raise ApiError.bad_request(f"invalid field selector {selector!r}: {part!r} is not 'field=value'")
        path, op, value = m.groups()
        if path not in FIELDS[kind]:
            raise ApiError.bad_request(f'"{path}" is not a known field selector: only "{", ".join(FIELDS[kind])}"')
        if op == "!=":
            tests.append(lambda obj, p=path, v=value: _lookup(obj, p) != v)
        else:
            tests.append(lambda obj, p=path, v=value: _lookup(obj, p) == v)
    return lambda obj: all(test(obj) for test in tests)
