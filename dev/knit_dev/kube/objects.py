"""Shapes every part of the stand-in shares: API errors as ``Status`` objects, timestamps, patches.

Objects are kept as the JSON the API speaks (camelCase dicts, as ``sanitize_for_serialization`` sends them), so
what the client sends is what it reads back.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from typing import Any

__all__ = ["ApiError", "apply_json_patch", "merge_patch", "now", "rfc3339", "rfc3339nano", "status_body"]

JSON = dict[str, Any]


class ApiError(Exception):
    """An API failure, answered as a ``Status`` (the client raises ``ApiException`` with this code and body)."""

    def __init__(self, code: int, reason: str, message: str, *, name: str = "", kind: str = "pods") -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.name, self.kind = code, reason, message, name, kind

    @classmethod
    def not_found(cls, kind: str, name: str) -> ApiError:
        return cls(404, "NotFound", f'{kind} "{name}" not found', name=name, kind=kind)

    @classmethod
    def invalid(cls, kind: str, name: str, causes: list[str]) -> ApiError:
        text = f'{kind.rstrip("s").capitalize()} "{name}" is invalid: ' + ", ".join(causes)
        return cls(422, "Invalid", text, name=name, kind=kind)

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    def body(self) -> JSON:
        details = {"name": self.name, "kind": self.kind} if self.name else {}
        return status_body(self.code, self.reason, self.message, details)


def status_body(code: int, reason: str, message: str, details: JSON | None = None) -> JSON:
    body: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    body.update({"reason": reason, "code": code})
    if details:
        body["details"] = details
    return body


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(moment: dt.datetime | None = None) -> str:
    """``metav1.Time``: whole seconds, UTC, ``Z``."""
    return (moment or now()).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339nano(ns: int | None = None) -> str:
    """Go's ``time.RFC3339Nano`` in UTC (trailing zeros of the fraction dropped), as kubelet prefixes log lines."""
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 time (``sinceTime``); ``Z`` or an offset."""
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError.bad_request(f"invalid time {text!r}: want RFC 3339, e.g. 2024-01-02T15:04:05Z") from None


def merge_patch(target: Any, patch: Any, *, strategic: bool = False) -> Any:
    """RFC 7386 (null deletes a key). ``strategic``: lists of named objects merge by ``name``, as the strategic
    merge patch does for containers, volumes, env and mounts; other lists are replaced."""
    if not isinstance(patch, dict):
        if strategic and isinstance(patch, list) and isinstance(target, list) and _named(patch) and _named(target):
            merged = {item["name"]: copy.deepcopy(item) for item in target}
            for item in patch:
                merged[item["name"]] = merge_patch(merged.get(item["name"], {}), item, strategic=True)
            return list(merged.values())
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # strategic-merge directives ($patch, $setElementOrder/...): not modelled
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value, strategic=strategic)
    return result


def _named(items: list) -> bool:
    return bool(items) and all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items)


def apply_json_patch(target: JSON, operations: Any) -> JSON:
    """RFC 6902 ``add``/``replace``/``remove``/``test`` (enough for labels and annotations)."""
    if not isinstance(operations, list):
        raise ApiError.bad_request("a json patch must be a list of operations")
    result = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError.bad_request(f"json patch operation {op!r}: needs 'op' and 'path'")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]]
        if not parts:
            raise ApiError.bad_request(f"json patch operation {op!r}: the path must not be the document root")
        parent: Any = result
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op.get("value"):
                raise ApiError(422, "Invalid", f"json patch test failed at {op['path']}")
        elif kind == "remove":
            try:
                del parent[int(last) if isinstance(parent, list) else last]
            except (KeyError, IndexError, ValueError):
                raise ApiError(422, "Invalid", f"json patch: nothing to remove at {op['path']}") from None
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                parent.insert(index, op.get("value")) if kind == "add" else parent.__setitem__(index, op.get("value"))
            else:
                parent[last] = op.get("value")
        else:
            raise ApiError.bad_request(f"json patch operation {kind!r} is not supported by the stand-in")
    return result
