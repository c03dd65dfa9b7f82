"""``KnitCatalogTrigger``: wakes the generator when the catalog holds work, never on an event alone.

It polls the catalog's change cursor (one indexed query: live Runs grouped by status) and fires when
- Runs are due for dispatch (``waiting``, never dispatched or last tried ``redispatch_after`` ago),
- a held Run's DagRun has ended or vanished (checked every ``reconcile_interval`` while Runs are held),
- a DagRun of ``forced_dag_id`` is queued (``airflow dags trigger knit_generator`` asks for a pass),
- or ``idle_timeout`` passed, so a long-lived deferral ends and its DagRun can be replaced.
A ``BaseEventTrigger``: deferrable sensors use it (``once=True``), and so can an ``AssetWatcher`` (``once=False``:
it keeps polling and fires again only for new work).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from knit_provider.catalog.engine import make_engine
from knit_provider.hooks import dagruns
from knit_provider.service.execution import PendingWork, find_lost, pending_work
from knit_provider.service.settings import KnitSettings

FORCE_CHECK_S = 2.0


def _queued_runs(dag_id: str) -> int:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    return RuntimeTaskInstance.get_dr_count(dag_id=dag_id, states=["queued"])


class KnitCatalogTrigger(BaseEventTrigger):
    def __init__(
        self,
        *,
        catalog_url: str,
        knit_home: str,
        poll_interval: float = 0.5,
        reconcile_interval: float = 10.0,
        redispatch_after: float = 10.0,
        idle_timeout: float = 3600.0,
        forced_dag_id: str | None = None,
        once: bool = True,
    ) -> None:
        super().__init__()
        self.catalog_url = catalog_url
        self.knit_home = knit_home
        self.poll_interval = poll_interval
        self.reconcile_interval = reconcile_interval
        self.redispatch_after = redispatch_after
        self.idle_timeout = idle_timeout
        self.forced_dag_id = forced_dag_id
        self.once = once

    @classmethod
    def from_settings(cls, settings: KnitSettings, **kwargs: Any) -> KnitCatalogTrigger:
        return cls(
            catalog_url=settings.effective_catalog_url,
            knit_home=str(settings.knit_home),
            poll_interval=settings.poll_interval_s,
            reconcile_interval=settings.reconcile_interval_s,
            redispatch_after=settings.redispatch_after_s,
            **kwargs,
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "catalog_url": self.catalog_url,
                "knit_home": self.knit_home,
                "poll_interval": self.poll_interval,
                "reconcile_interval": self.reconcile_interval,
                "redispatch_after": self.redispatch_after,
                "idle_timeout": self.idle_timeout,
                "forced_dag_id": self.forced_dag_id,
                "once": self.once,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        engine = make_engine(self.catalog_url)
        try:
            async for event in self._poll(engine):
                yield event
                if self.once:
                    return
        finally:
            engine.dispose()

    async def _poll(self, engine) -> AsyncIterator[TriggerEvent]:
        from knit_provider.service.context import Knit
        from knit_provider.storage import LocalStore

        home = Path(self.knit_home)
        knit = Knit(engine=engine, store=LocalStore(home / "data"), home=home)
        started = last_reconcile = last_force = last_fired = time.monotonic()
        fired_due = 0
        while True:
            now = time.monotonic()
            work: PendingWork = await asyncio.to_thread(pending_work, engine, redispatch_after_s=self.redispatch_after)
            reason = None
            # fire for new work; in watcher mode, the same pending count fires again only after a while
            if work.dispatchable and (work.dispatchable > fired_due or now - last_fired >= self.redispatch_after):
                reason = "dispatch"
            elif work.held and now - last_reconcile >= self.reconcile_interval:
                last_reconcile = now
                lost = await sync_to_async(find_lost)(knit, dagruns.dispatch_state)
                if lost:
                    reason = "reconcile"
            if reason is None and self.forced_dag_id and now - last_force >= FORCE_CHECK_S:
                last_force = now
                if await sync_to_async(_queued_runs)(self.forced_dag_id):
                    reason = "forced"
            if reason is None and now - started >= self.idle_timeout:
                reason = "idle"
                started = now
            if reason is not None:
                fired_due, last_fired = work.dispatchable, now
                yield TriggerEvent({"reason": reason, **work.as_dict()})
            else:
                fired_due = min(fired_due, work.dispatchable)
            await asyncio.sleep(self.poll_interval)
