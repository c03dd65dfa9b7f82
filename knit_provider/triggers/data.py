"""``KnitDataTrigger``: waits (deferred, in the triggerer) until usable Knit Data carrying some tags exist.

It shares the asset watchers' poll of the catalog's feed head and searches only when the feed moved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from knit_provider.hooks.knit import KnitHook
from knit_provider.service import data as service_data
from knit_provider.triggers.airflow_calls import ask_airflow
from knit_provider.triggers.assets import RECHECK_S, _SharedFeed


class KnitDataTrigger(BaseTrigger):
    """Fires once, ``{"knit_ids": [...]}``, when usable Data carrying ``tags`` (finished at or after ``since``)
    exist."""

    def __init__(self, *, tags: list[str], since: str | None = None, knit_conn_id: str = KnitHook.default_conn_name):
        super().__init__()
        self.tags = list(tags)
        self.since = since
        self.knit_conn_id = knit_conn_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"tags": self.tags, "since": self.since, "knit_conn_id": self.knit_conn_id},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        settings = await ask_airflow(lambda: KnitHook(self.knit_conn_id).settings)
        knit = await asyncio.to_thread(settings.open_knit, migrate=False)
        url = settings.effective_catalog_url
        feed = _SharedFeed.join(url, knit, settings.poll_interval_s)
        try:
            seen = -1
            while True:
                head = await feed.past(seen, RECHECK_S)
                found = await asyncio.to_thread(service_data.find, knit, self.tags, transient="no", since=self.since)
                if found:
                    yield TriggerEvent({"knit_ids": [d["knitId"] for d in found]})
                    return
                seen = head
        finally:
            feed.leave(url)
            knit.close()
