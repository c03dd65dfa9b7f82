"""The catalog the api-server's Knit routes work on, opened once per process from the ``knit`` connection/config."""

from __future__ import annotations

from functools import lru_cache

from knit_provider.hooks.knit import KnitHook
from knit_provider.service.context import Knit


@lru_cache(maxsize=1)
def knit() -> Knit:
    return KnitHook().get_conn()
