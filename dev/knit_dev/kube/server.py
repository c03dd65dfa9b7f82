"""The HTTP side: the routes of the core/v1 API the kubernetes client (and so KPO) calls, over plain HTTP/1.1.

Answers are the API's JSON; failures are ``Status`` objects with the API's codes; ``/log?follow=true`` is a
chunked stream that ends when the container has ended and every line was sent, as kubelet's does.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from knit_dev.kube.objects import ApiError, parse_time
from knit_dev.kube.store import Cluster, LogQuery

__all__ = ["ApiServer"]

VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-knit-standin",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_RESOURCES = [
    ("pods", "Pod", True, ["create", "delete", "get", "list", "patch"]),
    ("pods/log", "Pod", True, ["get"]),
    ("pods/status", "Pod", True, ["get"]),
    ("events", "Event", True, ["get", "list"]),
    ("namespaces", "Namespace", False, ["get", "list"]),
    ("nodes", "Node", False, ["get", "list"]),
]
_NS = r"/api/v1/namespaces/(?P<ns>[^/]+)"


def _flag(query: dict[str, str], name: str) -> bool:
    return query.get(name, "").lower() in ("true", "1")


def _int(query: dict[str, str], name: str) -> int | None:
    if not query.get(name):
        return None
    try:
        return int(query[name])
    except ValueError:
        raise ApiError.bad_request(f"{name}: {query[name]!r} is not an integer") from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # every call is in cluster.calls

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # ----------------------------------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        cluster = self.server.cluster
        with cluster.lock:
            cluster.calls.append((method, self.path))
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        body = self._body()
        try:
            if _flag(query, "watch"):
                raise ApiError(405, "MethodNotAllowed", "watch is not supported by the kube stand-in: list instead")
            for pattern, methods in self.server.routes:
                match = re.fullmatch(pattern, url.path)
                if match is None:
                    continue
                if method not in methods:
                    raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on {url.path}")
                answer = methods[method](match.groupdict(), query, body, self.headers.get("Content-Type", ""))
                if isinstance(answer, tuple) and answer and isinstance(answer[0], int):
                    self._json(answer[0], answer[1])
                elif isinstance(answer, Iterator):
                    self._stream(answer)
                else:
                    self._json(200, answer)
                return
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({url.path})")
        except ApiError as exc:
            self._json(exc.code, exc.body())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _json(self, code: int, payload: Any) -> None:
        data = json.dumps(payload).encode() if not isinstance(payload, str) else payload.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json" if not isinstance(payload, str) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, chunks: Iterator[bytes]) -> None:
        """Plain text, chunked, each piece flushed as soon as it exists."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()


Route = Callable[[dict[str, str], dict[str, str], Any, str], Any]


class ApiServer(ThreadingHTTPServer):
    """``ApiServer(cluster, ("127.0.0.1", 0))``; serve with ``serve_forever`` on a thread."""

    daemon_threads = True

    def __init__(self, cluster: Cluster, address: tuple[str, int]) -> None:
        self.cluster = cluster
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        super().__init__(address, _Handler)
        self.routes: list[tuple[str, dict[str, Route]]] = self._routes()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._sockets_lock:
            self._sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._sockets_lock:
            self._sockets.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Kept-alive client connections would keep their handler threads reading forever."""
        with self._sockets_lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # ----------------------------------------------------------------------------------------------------------
    def _routes(self) -> list[tuple[str, dict[str, Route]]]:
        c = self.cluster
        pod_url = _NS + r"/pods/(?P<name>[^/]+)"
        return [
            (r"/version/?", {"GET": lambda *_: VERSION}),
            (r"/(healthz|readyz|livez)(/.*)?", {"GET": lambda *_: (200, "ok")}),
            (
                r"/api/?",
                {"GET": lambda *_: {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}},
            ),
            (r"/apis/?", {"GET": lambda *_: {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}}),
            (r"/api/v1/?", {"GET": lambda *_: self._resources()}),
            (r"/api/v1/namespaces/?", {"GET": lambda *_: self._namespaces()}),
            (_NS + "/?", {"GET": lambda p, *_: self._namespace(p["ns"])}),
            (r"/api/v1/nodes/?", {"GET": lambda *_: self._nodes()}),
            (r"/api/v1/nodes/(?P<name>[^/]+)", {"GET": lambda p, *_: self._node(p["name"])}),
            (
                r"/api/v1/pods/?",
                {"GET": lambda p, q, *_: c.list_pods(None, q.get("labelSelector"), q.get("fieldSelector"))},
            ),
            (
                _NS + r"/pods/?",
                {
                    "GET": lambda p, q, *_: c.list_pods(p["ns"], q.get("labelSelector"), q.get("fieldSelector")),
                    "POST": lambda p, q, body, _: (201, c.create_pod(p["ns"], body)),
                },
            ),
            (
                pod_url,
                {
                    "GET": lambda p, *_: c.get_pod(p["ns"], p["name"]),
                    "PATCH": lambda p, q, body, kind: c.patch_pod(p["ns"], p["name"], body, kind),
                    "DELETE": lambda p, *_: c.delete_pod(p["ns"], p["name"]),
                },
            ),
            (pod_url + "/status", {"GET": lambda p, *_: c.get_pod(p["ns"], p["name"])}),
            (pod_url + "/log", {"GET": self._log}),
            (
                r"/api/v1/events/?",
                {"GET": lambda p, q, *_: c.list_events(None, q.get("labelSelector"), q.get("fieldSelector"))},
            ),
            (
                _NS + r"/events/?",
                {"GET": lambda p, q, *_: c.list_events(p["ns"], q.get("labelSelector"), q.get("fieldSelector"))},
            ),
        ]

    def _log(self, params: dict[str, str], query: dict[str, str], body: Any, kind: str) -> Any:
        since_time = parse_time(query["sinceTime"]) if query.get("sinceTime") else None
        log = LogQuery(
            container=query.get("container") or None,
            follow=_flag(query, "follow"),
            timestamps=_flag(query, "timestamps"),
            since_seconds=_int(query, "sinceSeconds"),
            since_time=since_time,
            tail_lines=_int(query, "tailLines"),
            limit_bytes=_int(query, "limitBytes"),
            previous=_flag(query, "previous"),
        )
        chunks = self.cluster.read_log(params["ns"], params["name"], log)
        return chunks if log.follow else (200, b"".join(chunks).decode("utf-8", "replace"))

    def _resources(self) -> dict[str, Any]:
        resources = [
            {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": verbs}
            for name, kind, namespaced, verbs in _RESOURCES
        ]
        return {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}

    def _namespace(self, name: str) -> dict[str, Any]:
        meta = {
            "name": name,
            "labels": {"kubernetes.io/metadata.name": name},
            "creationTimestamp": self.cluster.created,
        }
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": meta,
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    def _namespaces(self) -> dict[str, Any]:
        names = {
            "default",
            "kube-system",
            *(p["metadata"]["namespace"] for p in self.cluster.list_pods(None, None, None)["items"]),
        }
        items = [self._namespace(n) for n in sorted(names)]
        return {
            "kind": "NamespaceList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": self.cluster.resource_version},
            "items": items,
        }

    def _nodes(self) -> dict[str, Any]:
        items = [self.cluster.node.to_json(self.cluster.created)]
        return {
            "kind": "NodeList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": self.cluster.resource_version},
            "items": items,
        }

    def _node(self, name: str) -> dict[str, Any]:
        if name != self.cluster.node.name:
            raise ApiError.not_found("nodes", name)
        return self.cluster.node.to_json(self.cluster.created)
