"""The stand-in's API state: pods, events and container logs, behind one lock, with resource versions.

Every change bumps the cluster's resourceVersion and wakes whoever waits on ``changed`` (log followers, tests).
The kubelet (``kubelet.PodWorker``) writes a pod's status through :meth:`Cluster.set_status`.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knit_dev.kube.objects import ApiError, apply_json_patch, merge_patch, rfc3339, rfc3339nano
from knit_dev.kube.scheduling import Node
from knit_dev.kube.selectors import field_matcher, label_matcher
from knit_dev.kube.validation import admit_pod, check_metadata_update

__all__ = ["Cluster", "LogQuery"]

JSON = dict[str, Any]


@dataclass
class LogQuery:
    container: str | None = None
    follow: bool = False
    timestamps: bool = False
    since_seconds: int | None = None
    since_time: dt.datetime | None = None
    tail_lines: int | None = None
    limit_bytes: int | None = None
    previous: bool = False


@dataclass
class _Lines:
    lines: list[tuple[int, str]] = field(default_factory=list)  # (time in ns, text without newline)
    done: bool = False  # the container ended: no more lines will come


class Cluster:
    """Pods, events and logs; ``start_pod(uid)`` / ``stop_pod(uid)`` are the kubelet's, set by the stand-in."""

    def __init__(self, node: Node, claims: dict[str, Path], service_accounts: set[str] | None = None) -> None:
        self.node = node
        self.claims = claims
        self.service_accounts = service_accounts if service_accounts is not None else {"default"}
        self.secrets: dict[str, dict[str, str]] = {}  # Secret name -> its data (every namespace: one node, tests)
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.created = rfc3339()
        self.stopping = False
        self._rv = 0
        self._pods: dict[tuple[str, str], JSON] = {}
        self._events: list[JSON] = []
        self._logs: dict[tuple[str, str], _Lines] = {}
        self.deleted: list[JSON] = []
        self.calls: list[tuple[str, str]] = []  # (method, path with query), in order
        self.start_pod: Callable[[JSON], None] = lambda pod: None
        self.stop_pod: Callable[[str], None] = lambda uid: None

    # ----------------------------------------------------------------------------------------------------------
    def _bump(self) -> str:
        self._rv += 1
        self.changed.notify_all()
        return str(self._rv)

    @property
    def resource_version(self) -> str:
        with self.lock:
            return str(self._rv)

    def _pod(self, namespace: str, name: str) -> JSON:
        pod = self._pods.get((namespace, name))
        if pod is None:
            raise ApiError.not_found("pods", name)
        return pod

    # ---- pods ------------------------------------------------------------------------------------------------
    def create_pod(self, namespace: str, body: Any) -> JSON:
        with self.lock:
            pod = admit_pod(body, namespace, str(self._rv + 1), self.service_accounts)
            key = (namespace, pod["metadata"]["name"])
            if key in self._pods:
                raise ApiError(409, "AlreadyExists", f'pods "{key[1]}" already exists', name=key[1])
            self._pods[key] = pod
            self._bump()
            created = copy.deepcopy(pod)
        self.start_pod(created)
        return created

    def get_pod(self, namespace: str, name: str) -> JSON:
        with self.lock:
            return copy.deepcopy(self._pod(namespace, name))

    def list_pods(self, namespace: str | None, label_selector: str | None, field_selector: str | None) -> JSON:
        labels, fields = label_matcher(label_selector), field_matcher(field_selector, "pods")
        with self.lock:
            items = [
                copy.deepcopy(pod)
                for (ns, _), pod in sorted(self._pods.items())
                if namespace in (None, ns) and labels(pod["metadata"].get("labels") or {}) and fields(pod)
            ]
            return {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self._rv)},
                "items": items,
            }

    def patch_pod(self, namespace: str, name: str, body: Any, content_type: str) -> JSON:
        with self.lock:
            old = self._pod(namespace, name)
            kind = content_type.split(";")[0].strip().lower()
            if kind == "application/json-patch+json":
                new = apply_json_patch(old, body)
            elif kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                if not isinstance(body, dict):
                    raise ApiError.bad_request(f"a {kind} body must be a JSON object")
                new = merge_patch(old, body, strategic=kind.startswith("application/strategic"))
            else:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {kind}")
            new["status"] = old["status"]  # status is the kubelet's (a subresource)
            check_metadata_update(old, new)
            new["metadata"]["resourceVersion"] = self._bump()
            self._pods[(namespace, name)] = new
            return copy.deepcopy(new)

    def delete_pod(self, namespace: str, name: str) -> JSON:
        """Kills the pod's containers and waits for them, then removes it (as a zero-grace-period delete)."""
        with self.lock:
            pod = self._pod(namespace, name)
            pod["metadata"].setdefault("deletionTimestamp", rfc3339())
            pod["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            pod["metadata"]["resourceVersion"] = self._bump()
            uid = pod["metadata"]["uid"]
        self.stop_pod(uid)
        with self.lock:
            pod = self._pods.pop((namespace, name), pod)
            self._bump()
            for key, lines in self._logs.items():
                if key[0] == uid:
                    lines.done = True
            final = copy.deepcopy(pod)
            self.deleted.append(final)
            return copy.deepcopy(final)

    def set_status(self, uid: str, mutate: Callable[[JSON], None]) -> None:
        """The kubelet's status write: ``mutate(pod)`` under the lock; a deleted pod is left alone."""
        with self.lock:
            for pod in self._pods.values():
                if pod["metadata"]["uid"] == uid:
                    mutate(pod)
                    pod["metadata"]["resourceVersion"] = self._bump()
                    return

    def phase(self, namespace: str, name: str) -> str | None:
        with self.lock:
            pod = self._pods.get((namespace, name))
            return pod["status"].get("phase") if pod else None

    def pod_by_uid(self, uid: str) -> JSON | None:
        with self.lock:
            found = next((p for p in self._pods.values() if p["metadata"]["uid"] == uid), None)
            return copy.deepcopy(found) if found else None

    # ---- events ----------------------------------------------------------------------------------------------
    def record_event(
        self, pod: JSON, kind: str, reason: str, message: str, *, component: str = "kubelet", field_path: str = ""
    ) -> None:
        """An event about ``pod``; a repeat (same reason and message) counts up, as kubelet's correlator does."""
        meta = pod["metadata"]
        with self.lock:
            stamp = rfc3339()
            for event in self._events:
                same = event["involvedObject"]["uid"] == meta["uid"] and event["reason"] == reason
                if same and event["message"] == message and event["type"] == kind:
                    event["count"] += 1
                    event["lastTimestamp"] = stamp
                    event["metadata"]["resourceVersion"] = self._bump()
                    return
            involved = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}
            involved.update(apiVersion="v1", resourceVersion=meta.get("resourceVersion", ""))
            if field_path:
                involved["fieldPath"] = field_path
            event_meta = {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]}
            event_meta.update(uid=str(uuid.uuid4()), creationTimestamp=stamp)
            event = {"apiVersion": "v1", "kind": "Event", "metadata": event_meta, "involvedObject": involved}
            event.update(reason=reason, message=message, type=kind, count=1, firstTimestamp=stamp, lastTimestamp=stamp)
            event.update(
                source={"component": component, **({"host": self.node.name} if component == "kubelet" else {})}
            )
            event.update(reportingComponent=component, reportingInstance=self.node.name, eventTime=None)
            event["metadata"]["resourceVersion"] = self._bump()
            self._events.append(event)

    def list_events(self, namespace: str | None, label_selector: str | None, field_selector: str | None) -> JSON:
        labels, fields = label_matcher(label_selector), field_matcher(field_selector, "events")
        with self.lock:
            items = [
                copy.deepcopy(e)
                for e in self._events
                if namespace in (None, e["metadata"]["namespace"]) and labels({}) and fields(e)
            ]
            return {
                "kind": "EventList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self._rv)},
                "items": items,
            }

    # ---- logs ------------------------------------------------------------------------------------------------
    def log_line(self, uid: str, container: str, text: str, *, at: int | None = None) -> None:
        """One line of output, stamped when it arrived (``at``, ns since the epoch) or now."""
        with self.lock:
            self._logs.setdefault((uid, container), _Lines()).lines.append((at or time.time_ns(), text))
            self.changed.notify_all()

    def log_done(self, uid: str, container: str) -> None:
        with self.lock:
            self._logs.setdefault((uid, container), _Lines()).done = True
            self.changed.notify_all()

    def read_log(self, namespace: str, name: str, query: LogQuery) -> Iterator[bytes]:
        """The log as kubelet serves it; raises ``ApiError`` up front (before any byte is sent)."""
        with self.lock:
            pod = self._pod(namespace, name)
            uid, container = pod["metadata"]["uid"], self._log_container(pod, query)
            if query.previous:
                raise ApiError.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
            status = next((s for s in self._statuses(pod) if s.get("name") == container), {"state": {"waiting": {}}})
            waiting = status["state"].get("waiting")
            if waiting is not None:
                reason = waiting.get("reason") or "PodScheduled"
                if reason in ("ErrImagePull", "ImagePullBackOff"):
                    reason = "trying and failing to pull image"
                raise ApiError.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
            lines = self._logs.setdefault((uid, container), _Lines())
        return self._stream(lines, query)

    @staticmethod
    def _statuses(pod: JSON) -> list[JSON]:
        status = pod.get("status") or {}
        return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]

    @staticmethod
    def _log_container(pod: JSON, query: LogQuery) -> str:
        spec = pod["spec"]
        names = [c["name"] for c in [*(spec.get("initContainers") or []), *spec["containers"]]]
        if query.container is None:
            if len(spec["containers"]) != 1:
                raise ApiError.bad_request(
                    f"a container name must be specified for pod {pod['metadata']['name']}, choose one of: "
                    f"[{' '.join(c['name'] for c in spec['containers'])}]"
                )
            return spec["containers"][0]["name"]
        if query.container not in names:
            raise ApiError.bad_request(f"container {query.container} is not valid for pod {pod['metadata']['name']}")
        return query.container

    def _stream(self, lines: _Lines, query: LogQuery) -> Iterator[bytes]:
        with self.lock:
            start = 0
            since = None
            if query.since_seconds is not None:
                since = time.time_ns() - query.since_seconds * 1_000_000_000
            elif query.since_time is not None:
                since = int(query.since_time.timestamp() * 1_000_000_000)
            if since is not None:
                start = next((i for i, (t, _) in enumerate(lines.lines) if t >= since), len(lines.lines))
            if query.tail_lines is not None:
                start = max(start, len(lines.lines) - max(query.tail_lines, 0))
        budget = query.limit_bytes
        index = start
        while True:
            with self.lock:
                batch = lines.lines[index:]
                index += len(batch)
                finished = lines.done or self.stopping or not query.follow
                if not batch and not finished:
                    self.changed.wait(1.0)
                    continue
            for stamp, text in batch:
                raw = (f"{rfc3339nano(stamp)} {text}\n" if query.timestamps else f"{text}\n").encode()
                if budget is not None:
                    raw, budget = raw[:budget], budget - len(raw)
                if raw:
                    yield raw
                if budget is not None and budget <= 0:
                    return
            if not query.follow or (finished and not batch):
                return

    # ---- introspection ---------------------------------------------------------------------------------------
    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 1.0))
            return True

    def logs_text(self, uid: str, container: str) -> str:
        with self.lock:
            return "".join(f"{t}\n" for _, t in self._logs.get((uid, container), _Lines()).lines)

    def patch(self, namespace: str, name: str, patch: JSON) -> None:
        """Tests only: merge ``patch`` into a stored pod without checks (e.g. to fake a node change)."""
        with self.lock:
            pod = self._pod(namespace, name)
            self._pods[(namespace, name)] = merge_patch(pod, patch)
            self._bump()
