"""``KnitAssetTrigger``: the ``AssetWatcher`` trigger of a ``KnitAsset``: one asset event per usable Data that
carries the asset's tags, delivered once, recorded in the catalog.

Every watcher in a triggerer shares one poll of the catalog's asset feed (``max(seq)``, one index look-up per
``[knit] poll_interval``); a watcher reads the catalog only when the feed moved. Before it yields an event the
delivery is recorded ``sent`` with the watcher's cursor moved, in one catalog transaction; the plugin's listener
marks it ``delivered`` once Airflow committed the event, and a starting triggerer settles the ones left in doubt.
Airflow never holds pending Knit work: a trigger that dies loses nothing the catalog does not still know.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from knit_provider.hooks.knit import KnitHook, data_page_url_maker
from knit_provider.service import assets
from knit_provider.service.assets import AssetSpec
from knit_provider.service.context import Knit
from knit_provider.triggers.airflow_calls import ask_airflow
from knit_provider.version_compat import asset_trigger_event_type

#: an asset event that carries a partition key (newer Airflow): one DagRun per Data for partitioned consumers;
#: None on Airflow 3.1-3.3, where a watcher's event has no partition key and Airflow batches them
AssetTriggerEvent = asset_trigger_event_type()

#: a watcher looks again this often even when the feed did not move (deliveries a settlement queued again)
RECHECK_S = 30.0


def asset_event(extra: dict) -> TriggerEvent:
    """The TriggerEvent of one Data: its extra as payload, and its knit id as the partition key where Airflow lets a
    watcher set one."""
    if AssetTriggerEvent is not None:
        return AssetTriggerEvent(extra, partition_key=extra["knit_id"])
    return TriggerEvent(extra)


class _SharedFeed:
    """One poll of a catalog's feed head for every watcher in this event loop (the triggerer runs them all in one)."""

    _feeds: dict[tuple[int, str], _SharedFeed] = {}

    def __init__(self, knit: Knit, interval: float) -> None:
        self.knit = knit
        self.interval = interval
        self.head = -1
        self.users = 0
        self.moved = asyncio.Event()
        self.task: asyncio.Task | None = None

    @classmethod
    def join(cls, url: str, knit: Knit, interval: float) -> _SharedFeed:
        key = (id(asyncio.get_running_loop()), url)
        feed = cls._feeds.get(key)
        if feed is None:
            feed = cls._feeds[key] = cls(knit, interval)
            feed.task = asyncio.get_running_loop().create_task(feed._poll())
        feed.users += 1
        return feed

    def leave(self, url: str) -> None:
        self.users -= 1
        if self.users <= 0:
            self._feeds.pop((id(asyncio.get_running_loop()), url), None)
            if self.task is not None:
                self.task.cancel()

    async def _poll(self) -> None:
        while True:
            try:
                head = await asyncio.to_thread(assets.feed_head, self.knit)
            except Exception:  # the catalog unreachable for a moment: keep the last head, try again
                head = self.head
            if head != self.head:
                self.head = head
                moved, self.moved = self.moved, asyncio.Event()
                moved.set()
            await asyncio.sleep(self.interval)

    async def past(self, seen: int, timeout: float) -> int:
        """The head once it is past ``seen`` (at once if it is), or whatever it is after ``timeout``."""
        if self.head > seen:
            return self.head
        moved = self.moved
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(moved.wait(), timeout)
        return self.head


class KnitAssetTrigger(BaseEventTrigger):
    """Fires one event per usable Data carrying ``tags`` (``extra['payload']``: knit id, tags, Run, Plan, page).

    Its arguments are its identity (Airflow keeps one trigger per distinct set): the tags, the catalog's name,
    the ``knit`` connection, and ``backfill`` (deliver the matching Data usable before the asset was first watched
    too). The catalog URL is resolved in the triggerer, never stored in Airflow's database.
    """

    def __init__(
        self,
        *,
        tags: list[str],
        catalog_name: str = assets.DEFAULT_CATALOG,
        knit_conn_id: str = KnitHook.default_conn_name,
        backfill: bool = False,
    ) -> None:
        super().__init__()
        self.spec = AssetSpec.of(tags, catalog_name)
        self.knit_conn_id = knit_conn_id
        self.backfill = backfill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "tags": list(self.spec.tags),
                "catalog_name": self.spec.catalog,
                "knit_conn_id": self.knit_conn_id,
                "backfill": self.backfill,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = KnitHook(self.knit_conn_id)
        settings = await ask_airflow(lambda: hook.settings)
        data_url = await ask_airflow(data_page_url_maker)
        knit = await asyncio.to_thread(settings.open_knit, migrate=False)
        url = settings.effective_catalog_url
        feed = _SharedFeed.join(url, knit, settings.poll_interval_s)
        try:
            await asyncio.to_thread(assets.start_watch, knit, self.spec, backfill=self.backfill)
            seen = -1
            while True:
                head = await feed.past(seen, RECHECK_S)
                extras = await asyncio.to_thread(
                    assets.due_events, knit, self.spec, head=max(head, 0), data_url=data_url
                )
                for extra in extras:
                    yield asset_event(extra)
                if len(extras) < assets.CLAIM_LIMIT:  # a full batch: more may be due at this head already
                    seen = head
        finally:
            feed.leave(url)
            knit.close()
