"""The scheduler's verdict for one pod on the stand-in's one node: nodeSelector, required node affinity, taints.

Messages are kube-scheduler's, so a test (or an operator) reading ``FailedScheduling`` sees what a cluster says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Node", "unschedulable_reason"]

_PREEMPTION = "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."


@dataclass
class Node:
    name: str = "knit-standin"
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)  # {"key", "value", "effect"}

    def to_json(self, created: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": dict(self.labels), "creationTimestamp": created},
            "spec": {"taints": [dict(t) for t in self.taints]} if self.taints else {},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                "nodeInfo": {"kubeletVersion": "v1.31.0-knit-standin", "operatingSystem": "linux"},
            },
        }


def _expression_matches(expression: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    key, operator = expression.get("key", ""), expression.get("operator", "")
    wanted = list(expression.get("values") or [])
    present = key in values
    if operator == "In":
        return present and values[key] in wanted
    if operator == "NotIn":
        return not present or values[key] not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            have, limit = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return have > limit if operator == "Gt" else have < limit
    return False


def _term_matches(term: Mapping[str, Any], node: Node) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches no node
    return all(_expression_matches(e, node.labels) for e in expressions) and all(
        _expression_matches(f, {"metadata.name": node.name}) for f in fields
    )


def _tolerates(toleration: Mapping[str, Any], taint: Mapping[str, str]) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    operator = toleration.get("operator") or "Equal"
    key = toleration.get("key") or ""
    if operator == "Exists":
        return not key or key == taint.get("key")
    return key == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(tolerations: Sequence[Mapping[str, Any]], node: Node) -> Mapping[str, str] | None:
    for taint in node.taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue  # PreferNoSchedule only steers
        if not any(_tolerates(t, taint) for t in tolerations):
            return taint
    return None


def unschedulable_reason(spec: Mapping[str, Any], node: Node, claims: Mapping[str, Any]) -> str | None:
    """None when the pod fits the node, else the scheduler's ``FailedScheduling`` message."""
    for volume in spec.get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim is not None and claim not in claims:
            return f'0/1 nodes are available: persistentvolumeclaim "{claim}" not found. {_PREEMPTION}'
    if spec.get("nodeName") and spec["nodeName"] != node.name:
        return f'0/1 nodes are available: node "{spec["nodeName"]}" not found. {_PREEMPTION}'
    selector = spec.get("nodeSelector") or {}
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    fits = all(node.labels.get(k) == v for k, v in selector.items())
    if fits and affinity is not None:
        fits = any(_term_matches(term, node) for term in affinity.get("nodeSelectorTerms") or [])
    if not fits:
        return f"0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. {_PREEMPTION}"
    taint = untolerated_taint(spec.get("tolerations") or [], node)
    if taint is not None:
        shown = f"{taint.get('key')}: {taint.get('value')}" if taint.get("value") else taint.get("key")
        return f"0/1 nodes are available: 1 node(s) had untolerated taint {{{shown}}}. {_PREEMPTION}"
    return None
