"""``StoreSpec``: which Data store to open, as the settings say it, before anything is opened.

The CLI's local mode fills it from its profile and the ``KNIT_DATA_STORE*`` variables; the Airflow adapters from
``[knit] data_store*`` with a filesystem already holding a connection's credentials (``hooks/knit.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knit_provider.core.documents import load_json
from knit_provider.core.errors import InvalidInput
from knit_provider.core.sizes import parse_size
from knit_provider.storage.base import DEFAULT_CACHE_SIZE, DataStore, open_store


@dataclass(frozen=True)
class StoreSpec:
    """``url`` empty: ``<knit home>/data``. ``options``: fsspec storage options (no secrets: those come from a
    connection or the provider's own variables). ``fs``: a ready filesystem (wins over ``options``)."""

    url: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    fs: Any = field(default=None, compare=False, repr=False)
    cache_dir: Path | None = None
    cache_size: int = DEFAULT_CACHE_SIZE

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, *, url: str | None = None) -> StoreSpec:
        """``KNIT_DATA_STORE`` (``url`` wins), ``KNIT_DATA_STORE_OPTIONS`` (JSON), ``KNIT_CACHE_DIR``,
        ``KNIT_CACHE_SIZE``."""
        return cls(
            url=url or env.get("KNIT_DATA_STORE", ""),
            options=parse_options(env.get("KNIT_DATA_STORE_OPTIONS", ""), "KNIT_DATA_STORE_OPTIONS"),
            cache_dir=Path(env["KNIT_CACHE_DIR"]).expanduser() if env.get("KNIT_CACHE_DIR") else None,
            cache_size=parse_size(env["KNIT_CACHE_SIZE"], "KNIT_CACHE_SIZE")
            if env.get("KNIT_CACHE_SIZE")
            else DEFAULT_CACHE_SIZE,
        )

    def open(self, home: Path) -> DataStore:
        return open_store(
            self.url or None,
            home=home,
            fs=self.fs,
            options=self.options,
            cache_dir=self.cache_dir,
            cache_size=self.cache_size,
        )


def parse_options(text: str, where: str) -> dict[str, Any]:
    """fsspec storage options as a JSON object (``{"endpoint_url": "..."}``); empty text: none."""
    if not text.strip():
        return {}
    options = load_json(text, source=where)
    if not isinstance(options, dict):
        raise InvalidInput(f"{where}: storage options must be a JSON object", field=where)
    return options
