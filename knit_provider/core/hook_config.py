"""Knitfab's lifecycle hook configuration, read as Knitfab reads its ``hooks.yaml``, and what Knitfab calls them for.

Knitfab's file (``--hooks`` / ``KNIT_HOOK_CONFIG``, the Helm value ``hooks``), taken unchanged::

    lifecycle-hooks:
      before: [https://example.com/before]   # POSTed the Run's JSON just before each hooked status change
      after:  [https://example.com/after]    # ... and just after it

As in Knitfab (``cmd/loops``: the initialize, run-management and finishing loops) a hooked change is one into
``ready``, ``starting``, ``running``, ``completing``, ``aborting``, ``done`` or ``failed``; the payload is the Run
as ``knit run show`` prints it; a 2xx answer is a success; and the "before starting" answer may carry
``{"knitfabExtension": {"env": {NAME: VALUE}}}``, environment variables for the Run (merged over the URLs in
order, later ones winning). Everything else about delivery is ``service.lifecycle_hooks``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from knit_provider.core.documents import load_yaml
from knit_provider.core.errors import InvalidInput, shown

SECTION = "lifecycle-hooks"
PHASES = ("before", "after")
#: The statuses whose entry Knitfab calls hooks for (a Run's way from waiting to its end).
HOOKED = frozenset({"ready", "starting", "running", "completing", "aborting", "done", "failed"})
STARTING = "starting"
#: An environment variable name a hook may set (Kubernetes' rule for container env names).
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
MAX_URLS = 32


@dataclass(frozen=True)
class HookConfig:
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.before or self.after)

    def urls(self, phase: str) -> tuple[str, ...]:
        return self.before if phase == "before" else self.after


def _urls(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput(f"must be a list of URLs, got {shown(value)}", field=where)
    if len(value) > MAX_URLS:
        raise InvalidInput(f"at most {MAX_URLS} URLs, got {len(value)}", field=where)
    found = []
    for url in value:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2048:
            raise InvalidInput(f"not an http(s) URL: {shown(url)}", field=where)
        found.append(url)
    return tuple(found)


def parse_hook_config(text: str, *, source: str) -> HookConfig:
    """Knitfab's hooks YAML (JSON is YAML too). Empty text, or no ``lifecycle-hooks``: no hooks."""
    document = load_yaml(text, source=source) if text.strip() else None
    if document is None:
        return HookConfig()
    if not isinstance(document, dict):
        raise InvalidInput(f"{source}: must be a mapping with {SECTION!r}, got {shown(document)}", field="hooks")
    unknown = sorted(set(document) - {SECTION})
    if unknown:
        raise InvalidInput(f"{source}: unknown key {shown(unknown[0])} (only {SECTION!r})", field="hooks")
    section = document.get(SECTION) or {}
    if not isinstance(section, dict) or set(section) - set(PHASES):
        raise InvalidInput(f"{source}: {SECTION} takes before and after, got {shown(section)}", field="hooks")
    return HookConfig(**{p: _urls(section.get(p), f"hooks {SECTION}.{p}") for p in PHASES})


def env_of_answer(content_type: str, body: Any) -> tuple[dict[str, str], list[str]]:
    """The environment a "before starting" hook's answer gives the Run (Knitfab's ``knitfabExtension.env``), and
    what was ignored in it. Only a JSON answer counts, as in Knitfab; names and values must be strings."""
    if content_type.split(";")[0].strip().lower() != "application/json" or not isinstance(body, dict):
        return {}, []
    extension = body.get("knitfabExtension")
    env = extension.get("env") if isinstance(extension, dict) else None
    if not isinstance(env, dict):
        return {}, []
    taken, ignored = {}, []
    for name, value in env.items():
        if isinstance(name, str) and ENV_NAME.fullmatch(name) and isinstance(value, str) and "\0" not in value:
            taken[name] = value
        else:
            ignored.append(shown(name))
    return taken, ignored
