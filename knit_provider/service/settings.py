"""The ``[knit]`` settings: one table of options, read by the Airflow adapters and documented by the provider.

Airflow-free: the caller passes a lookup (a ``knit`` connection's extras, then Airflow's ``[knit]`` config);
unset options fall back to the ``KNIT_*`` environment the ``knit`` CLI uses, so both see the same catalog.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from knit_provider.catalog.engine import knit_home
from knit_provider.core.errors import InvalidInput
from knit_provider.core.options import OPTIONS, RUNNERS
from knit_provider.runners.kubernetes.config import KubernetesSettings
from knit_provider.service.context import Knit


@dataclass(frozen=True)
class KnitSettings:
    catalog_url: str | None
    knit_home: Path
    runner: str
    image_map: tuple[str, ...]
    poll_interval_s: float
    reconcile_interval_s: float
    redispatch_after_s: float
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)

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
        return cls(
            catalog_url=get("catalog_url") or os.environ.get("KNIT_CATALOG_URL") or None,
            knit_home=Path(get("knit_home")).expanduser() if get("knit_home") else knit_home(),
            runner=runner,
            image_map=tuple(p for p in maps.split(os.pathsep) if p),
            poll_interval_s=_seconds(get, "poll_interval"),
            reconcile_interval_s=_seconds(get, "reconcile_interval"),
            redispatch_after_s=_seconds(get, "redispatch_after"),
            kubernetes=KubernetesSettings.parse(get),
        )

    @property
    def effective_catalog_url(self) -> str:
        return self.catalog_url or f"sqlite:///{self.knit_home / 'catalog.db'}"

    def open_knit(self, *, migrate: bool = True) -> Knit:
        return Knit.open(url=self.effective_catalog_url, home=self.knit_home, migrate=migrate)


def _seconds(get: Callable[[str], str], key: str) -> float:
    text = get(key)
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"[knit] {key}: not a number of seconds: {text!r}", field=key) from None
    if value <= 0:
        raise InvalidInput(f"[knit] {key}: must be positive, got {text!r}", field=key)
    return value
