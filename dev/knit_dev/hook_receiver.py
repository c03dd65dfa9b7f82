"""A small HTTP server on loopback that records the lifecycle hook calls it receives (tests only).

``HookReceiver().start()`` listens on a free port; ``url("/after")`` is a hook URL; ``calls`` lists what arrived,
in arrival order, as ``(path, json)``; ``answer("/before", status, body)`` sets how a path answers (default 200,
empty). ``down()`` stops listening (callers then get "connection refused") and ``up()`` listens again on the same
port, so a test can take the receiver away for a while.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from knit_dev.standalone import free_port


class _Handler(BaseHTTPRequestHandler):
    receiver: HookReceiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = {"unparsed": raw.decode(errors="replace")}
        status, content_type, answer = self.receiver._record(self.path, body, dict(self.headers))
        payload = json.dumps(answer).encode() if answer is not None else b""
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        return


class HookReceiver:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.calls: list[tuple[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._answers: dict[str, tuple[int, str, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, status: int = 200, body: Any = None, content_type: str = "application/json") -> None:
        with self._lock:
            self._answers[path] = (status, content_type, body)

    def _record(self, path: str, body: Any, headers: dict[str, str]) -> tuple[int, str, Any]:
        with self._lock:
            self.calls.append((path, body))
            self.headers.append(headers)
            return self._answers.get(path, (200, "application/json", None))

    def received(self, path: str | None = None) -> list[Any]:
        with self._lock:
            return [body for p, body in self.calls if path is None or p == path]

    def up(self) -> HookReceiver:
        handler = type("Handler", (_Handler,), {"receiver": self})
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="hook-receiver", daemon=True)
        self._thread.start()
        return self

    start = up

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    stop = down

    def __enter__(self) -> HookReceiver:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()
