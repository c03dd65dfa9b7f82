"""The ``[knit]`` settings: one table of options, read by the Airflow adapters and documented by the provider.

Airflow-free: the caller passes a lookup (a ``knit`` connection's extras, then Airflow's ``[knit]`` config);
unset options fall back to the ``KNIT_*`` environment the ``knit`` CLI uses, so both see the same catalog.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from knit_provider.catalog.engine import knit_home
from knit_provider.core.errors import InvalidInput
from knit_provider.core.notify import parse_target
from knit_provider.core.options import OPTIONS, RUNNERS
from knit_provider.core.run_control import RunControl, parse_timeout
from knit_provider.core.sizes import parse_size
from knit_provider.core.store_urls import is_local
from knit_provider.core.timefmt import parse_duration
from knit_provider.runners.kubernetes.config import KubernetesSettings
from knit_provider.service.context import Knit
from knit_provider.service.hook_calls import HookSettings
from knit_provider.storage.spec import StoreSpec, parse_options


@dataclass(frozen=True)
class KnitSettings:
    catalog_url: str | None
    knit_home: Path
    runner: str
    image_map: tuple[str, ...]
    poll_interval_s: float
    reconcile_interval_s: float
    redispatch_after_s: float
    heartbeat_timeout_s: float = 30.0
    default_control: RunControl = field(default_factory=lambda: RunControl(retries=0))
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)
    max_upload_bytes: int = 10 << 30  # 0: unlimited
    backfill_confirm: int = 1000  # 0: never asked
    store: StoreSpec = field(default_factory=StoreSpec)
    data_store_conn_id: str = ""
    hooks: HookSettings = field(default_factory=HookSettings)
    on_failure_notifier: str = ""  # a notifier target (core.notify), for every Plan
    docker_user: str | None = None  # docker run --user, resolved ("worker" -> this process's uid:gid)

    @classmethod
    def resolve(cls, lookup: Callable[[str], str | None] = lambda _key: None) -> KnitSettings:
        """Options from ``lookup`` where set (non-empty), else the environment, else the defaults."""

        def get(key: str) -> str:
            value = lookup(key)
            return str(value).strip() if value not in (None, "") else OPTIONS[key][0]

        runner = get("runner").lower()
        if runner not in RUNNERS:
            raise InvalidInput(
                f"[knit] runner: unknown runner {runner!r} (one of {', '.join(RUNNERS)})", field="runner"
            )
        maps = get("image_map") or os.environ.get("KNIT_IMAGE_MAP", "")
        store = _store_spec(get)
        kubernetes = KubernetesSettings.parse(get, data_store=store.url, store_options=_options_text(store))
        if runner == "kubernetes":
            kubernetes.pod.check_staging()
        return cls(
            catalog_url=get("catalog_url") or os.environ.get("KNIT_CATALOG_URL") or None,
            knit_home=Path(get("knit_home")).expanduser() if get("knit_home") else knit_home(),
            runner=runner,
            image_map=tuple(p for p in maps.split(os.pathsep) if p),
            poll_interval_s=_seconds(get, "poll_interval"),
            reconcile_interval_s=_seconds(get, "reconcile_interval"),
            redispatch_after_s=_seconds(get, "redispatch_after"),
            heartbeat_timeout_s=_seconds(get, "heartbeat_timeout"),
            default_control=_default_control(get),
            kubernetes=kubernetes,
            max_upload_bytes=parse_bytes(get("max_upload_bytes"), "max_upload_bytes"),
            backfill_confirm=parse_count(get("backfill_confirm"), "backfill_confirm"),
            store=store,
            data_store_conn_id=get("data_store_conn_id"),
            hooks=_hook_settings(get),
            on_failure_notifier=_notifier(get("on_failure_notifier")),
            docker_user=docker_user(get("docker_user")),
        )

    def runner_options(self, kind: str) -> dict[str, Any]:
        """The options ``make_runner`` gets for a runner of ``kind`` from these settings."""
        if kind.strip().lower() == "docker" and self.docker_user:
            return {"user": self.docker_user}
        return {}

    @property
    def effective_catalog_url(self) -> str:
        return self.catalog_url or f"sqlite:///{self.knit_home / 'catalog.db'}"

    def open_knit(self, *, migrate: bool = True, filesystem: Any = None) -> Knit:
        """The catalog and the Data store; ``filesystem`` an object store's, credentials resolved by an adapter."""
        store = replace(self.store, fs=filesystem) if filesystem is not None else self.store
        return Knit.open(url=self.effective_catalog_url, home=self.knit_home, migrate=migrate, store=store)


_DOCKER_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?")


def docker_user(text: str) -> str | None:
    """``[knit] docker_user``: None for the image's user, ``worker`` for this process's ``uid:gid``, else a
    ``user[:group]`` as ``docker run --user`` takes it (checked: it becomes one argument of a command)."""
    text = text.strip()
    if not text:
        return None
    if text == "worker":
        return f"{os.getuid()}:{os.getgid()}"
    if not _DOCKER_USER.fullmatch(text):
        raise InvalidInput(
            f"[knit] docker_user: {text!r} is not worker, uid[:gid] nor name[:group]", field="docker_user"
        )
    return text


def _options_text(store: StoreSpec) -> str:
    return json.dumps(dict(store.options)) if store.options else ""


def _store_spec(get: Callable[[str], str]) -> StoreSpec:
    """``[knit] data_store*`` and ``cache_*``, each falling back to its ``KNIT_*`` variable."""
    env = StoreSpec.from_env()
    url = get("data_store") or env.url
    if url and not is_local(url) and get("data_store_options"):
        options = parse_options(get("data_store_options"), "[knit] data_store_options")
    else:
        options = dict(env.options)
    cache_dir = Path(get("cache_dir")).expanduser() if get("cache_dir") else env.cache_dir
    cache_size = parse_bytes(get("cache_size"), "cache_size") if get("cache_size") else env.cache_size
    return StoreSpec(url=url, options=options, cache_dir=cache_dir, cache_size=cache_size)


def _default_control(get: Callable[[str], str]) -> RunControl:
    """``[knit] default_timeout`` / ``default_retries`` / ``default_retry_delay``, checked as plan YAML is."""
    timeout = get("default_timeout")
    retries = get("default_retries")
    if not retries.isdigit():
        raise InvalidInput(f"[knit] default_retries: not a whole number: {retries!r}", field="default_retries")
    return RunControl.parse(timeout or None, {"count": int(retries), "delay": get("default_retry_delay")})


def _hook_settings(get: Callable[[str], str]) -> HookSettings:
    """``[knit] hooks`` and how its calls are made; an inline configuration is checked now."""

    def duration(key: str) -> float:
        text = get(key)
        try:
            return parse_timeout(text if not text.replace(".", "", 1).isdigit() else float(text), field=key)
        except InvalidInput as err:
            raise InvalidInput(f"[knit] {key}: {err}", field=key) from None

    settings = HookSettings(
        source=get("hooks"),
        timeout_s=duration("hook_timeout"),
        expire_s=parse_duration(get("hook_expire"), field="hook_expire") / 1000,
        max_backoff_s=duration("hook_max_backoff"),
    )
    settings.config()  # an unreadable configuration is one line naming it, at once
    return settings


def _notifier(text: str) -> str:
    if text:
        parse_target(text, field="[knit] on_failure_notifier")
    return text


def _seconds(get: Callable[[str], str], key: str) -> float:
    text = get(key)
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"[knit] {key}: not a number of seconds: {text!r}", field=key) from None
    if value <= 0:
        raise InvalidInput(f"[knit] {key}: must be positive, got {text!r}", field=key)
    return value


def parse_bytes(text: str, key: str) -> int:
    """``10GiB``, ``512MiB`` or a plain number of bytes; 0 means unlimited."""
    return parse_size(text, f"[knit] {key}")


def parse_count(text: str, key: str) -> int:
    """A number of things (0 or more)."""
    if not text.strip().isdigit():
        raise InvalidInput(f"[knit] {key}: not a whole number: {text!r}", field=key)
    return int(text)


def default_backfill_confirm() -> int:
    """``[knit] backfill_confirm`` where no Airflow config is read (the local ``knit``): ``KNIT_BACKFILL_CONFIRM``,
    else the default."""
    return parse_count(os.environ.get("KNIT_BACKFILL_CONFIRM") or OPTIONS["backfill_confirm"][0], "backfill_confirm")
