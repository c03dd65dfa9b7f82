"""Where the lifecycle hooks are configured (``[knit] hooks``, re-read when its file changes) and how one call is
made: a POST of the Run's JSON, 2xx is a success, anything else (or no answer in time) a failure to retry."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from knit_provider.core.errors import KnitError
from knit_provider.core.hook_config import HookConfig, parse_hook_config

log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_CACHE: dict[str, tuple[float | None, HookConfig]] = {}
_WARNED: set[str] = set()


def _inline(source: str) -> bool:
    text = source.strip()
    return "\n" in text or text.startswith(("{", "lifecycle-hooks"))


def load_config(source: str) -> HookConfig:
    """``[knit] hooks``: Knitfab's hooks YAML inline, or the path of a file holding it (read again whenever it
    changes, as Knitfab's loops restart on a change of theirs; a missing file means no hooks yet). Raises
    ``InvalidInput`` naming the file when it is not Knitfab's format."""
    if not source.strip():
        return HookConfig()
    if _inline(source):
        with _LOCK:
            if source not in _CACHE:
                _CACHE[source] = (None, parse_hook_config(source, source="[knit] hooks"))
            return _CACHE[source][1]
    path = Path(source.strip()).expanduser()
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        if source not in _WARNED:
            _WARNED.add(source)
            log.warning("[knit] hooks: %s does not exist (yet): no lifecycle hooks are called", path)
        return HookConfig()
    with _LOCK:
        cached = _CACHE.get(source)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    config = parse_hook_config(path.read_text(), source=f"[knit] hooks {path}")
    with _LOCK:
        _CACHE[source] = (mtime, config)
    return config


@dataclass(frozen=True)
class HookSettings:
    """``[knit] hooks``, ``hook_timeout``, ``hook_expire`` and ``hook_max_backoff``."""

    source: str = ""
    timeout_s: float = 10.0
    expire_s: float = 86400.0
    max_backoff_s: float = 300.0

    @property
    def configured(self) -> bool:
        return bool(self.source.strip())

    def config(self) -> HookConfig:
        return load_config(self.source)

    def active(self) -> bool:
        """Whether any hook URL is configured now (an unreadable configuration is logged and counts as none)."""
        if not self.configured:
            return False
        try:
            return bool(self.config())
        except KnitError as err:
            log.error("lifecycle hooks not called: %s", err)
            return False

    def backoff_s(self, tries: int) -> float:
        """The wait after the ``tries``-th failed try: 1 s, 2 s, 4 s, ... up to ``max_backoff_s``."""
        return min(self.max_backoff_s, 2.0 ** max(0, tries - 1))


@dataclass(frozen=True)
class Answer:
    ok: bool
    error: str | None = None
    content_type: str = ""
    body: Any = None


def shown_url(url: str) -> str:
    """A hook URL for logs and listings: user info and query (where credentials hide) masked."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = ("***@" if parts.username or parts.password else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def post(url: str, payload: dict[str, Any], *, timeout_s: float) -> Answer:
    """One call: the Run's JSON as the body (``Content-Type: application/json``), as Knitfab posts it."""
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=True) as client:
            reply = client.post(url, json=payload)
    except httpx.HTTPError as err:
        return Answer(False, f"{type(err).__name__}: {err or 'no answer'}")
    content_type = reply.headers.get("content-type", "")
    if not reply.is_success:
        return Answer(False, f"HTTP {reply.status_code}: {reply.text[:200]}", content_type)
    body = None
    if content_type.split(";")[0].strip().lower() == "application/json":
        try:
            body = reply.json()
        except ValueError:
            log.warning("hook %s answered %s with JSON that does not parse; its body is ignored", shown_url(url),
                        reply.status_code)  # fmt: skip
    return Answer(True, None, content_type, body)
