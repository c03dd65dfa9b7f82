"""``KnitCatalogTrigger``: wakes the generator when the catalog holds work, never on an event alone.

It polls the catalog's change cursor (one indexed query: live Runs grouped by status) and fires when
- Runs are due for dispatch (``waiting``, never dispatched or last tried ``redispatch_after`` ago),
- a held Run's DagRun has ended or vanished (checked every ``reconcile_interval`` while Runs are held),
- a DagRun of ``forced_dag_id`` is queued (``airflow dags trigger knit_generator`` asks for a pass),
- lifecycle hook calls are due, or status changes wait to be handed to them (only with ``[knit] hooks`` set),
- or ``idle_timeout`` passed, so a long-lived deferral ends and its DagRun can be replaced.
A ``BaseEventTrigger``: deferrable sensors use it (``once=True``), and so can an ``AssetWatcher`` (``once=False``:
it keeps polling and fires again only for new work).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from knit_provider.core.run_control import RunControl
from knit_provider.hooks import dagruns
from knit_provider.hooks.knit import KnitHook
from knit_provider.hooks.pods import KnitRunPods
from knit_provider.service.context import Knit
from knit_provider.service.dispatching import PendingWork, pending_work
from knit_provider.service.hook_calls import HookSettings
from knit_provider.service.lifecycle_hooks import hook_work
from knit_provider.service.reconciliation import find_lost
from knit_provider.service.settings import KnitSettings
from knit_provider.triggers.airflow_calls import ask_airflow

FORCE_CHECK_S = 2.0
HOOK_CHECK_S = 1.0


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
        heartbeat_timeout: float = 30.0,
        default_timeout: float | None = None,
        idle_timeout: float = 3600.0,
        forced_dag_id: str | None = None,
        once: bool = True,
        hooks: str = "",
        runner: str = "process",
    ) -> None:
        super().__init__()
        self.catalog_url = catalog_url
        self.knit_home = knit_home
        self.poll_interval = poll_interval
        self.reconcile_interval = reconcile_interval
        self.redispatch_after = redispatch_after
        self.heartbeat_timeout = heartbeat_timeout
        self.default_timeout = default_timeout
        self.idle_timeout = idle_timeout
        self.forced_dag_id = forced_dag_id
        self.once = once
        self.hooks = hooks  # [knit] hooks: only whether it is set matters here
        self.runner = runner  # kubernetes: a running Run's pod is looked for too
        self._pods: KnitRunPods | None = None

    @classmethod
    def from_settings(cls, settings: KnitSettings, **kwargs: Any) -> KnitCatalogTrigger:
        return cls(
            catalog_url=settings.effective_catalog_url,
            knit_home=str(settings.knit_home),
            poll_interval=settings.poll_interval_s,
            reconcile_interval=settings.reconcile_interval_s,
            redispatch_after=settings.redispatch_after_s,
            heartbeat_timeout=settings.heartbeat_timeout_s,
            default_timeout=settings.default_control.timeout_s,
            hooks=settings.hooks.source,
            runner=settings.runner,
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
                "heartbeat_timeout": self.heartbeat_timeout,
                "default_timeout": self.default_timeout,
                "idle_timeout": self.idle_timeout,
                "forced_dag_id": self.forced_dag_id,
                "once": self.once,
                "hooks": self.hooks,
                "runner": self.runner,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        knit = await asyncio.to_thread(Knit.open, url=self.catalog_url, home=self.knit_home, migrate=False)
        try:
            async for event in self._poll(knit):
                yield event
                if self.once:
                    return
        finally:
            knit.close()

    async def _poll(self, knit: Knit) -> AsyncIterator[TriggerEvent]:
        started = last_reconcile = last_force = last_fired = last_hooks = time.monotonic()
        hooks = HookSettings(source=self.hooks)
        fired_due = 0
        forced_check: asyncio.Future[int] | None = None  # a queued-DagRun count being asked
        try:
            while True:
                now = time.monotonic()
                due_after = self.redispatch_after
                work: PendingWork = await asyncio.to_thread(pending_work, knit, redispatch_after_s=due_after)
                reason = None
                # fire for new work; in watcher mode, the same pending count fires again only after a while
                if work.dispatchable and (work.dispatchable > fired_due or now - last_fired >= self.redispatch_after):
                    reason = "dispatch"
                elif work.held and now - last_reconcile >= self.reconcile_interval:
                    last_reconcile = now
                    pods = await ask_airflow(self._pods_now) if self.runner == "kubernetes" else None
                    lost = await ask_airflow(
                        find_lost,
                        knit,
                        dagruns.dispatch_states,
                        heartbeat_timeout_s=self.heartbeat_timeout,
                        default_control=RunControl(timeout_s=self.default_timeout),
                        grace_s=self.reconcile_interval,
                        pods=pods,
                    )
                    if lost:
                        reason = "reconcile"
                hook_every = HOOK_CHECK_S if self.once else self.redispatch_after
                if reason is None and hooks.configured and now - last_hooks >= hook_every:
                    last_hooks = now
                    if await asyncio.to_thread(hook_work, knit, hooks):
                        reason = "hooks"
                if reason is None and self.forced_dag_id:
                    # asked beside the polling: Airflow's answer can take seconds (8 s for a triggerer's first one on a
                    # loaded machine), which must not delay the wake-up for waiting Runs (bench/fanout.py)
                    if forced_check is not None and forced_check.done():
                        queued, forced_check = forced_check.result(), None
                        if queued:
                            reason = "forced"
                    elif forced_check is None and now - last_force >= FORCE_CHECK_S:
                        last_force = now
                        forced_check = asyncio.ensure_future(ask_airflow(_queued_runs, self.forced_dag_id))
                if reason is None and now - started >= self.idle_timeout:
                    reason = "idle"
                    started = now
                if reason is not None:
                    fired_due, last_fired = work.dispatchable, now
                    yield TriggerEvent({"reason": reason, **work.as_dict()})
                else:
                    fired_due = min(fired_due, work.dispatchable)
                await asyncio.sleep(self.poll_interval)
        finally:
            if forced_check is not None:  # no longer awaited; its request to Airflow still reads its answer
                forced_check.cancel()

    def _pods_now(self) -> set[str] | None:
        """The run ids having a pod (the cluster ``[knit] kubernetes_*`` names); None when it cannot be asked."""
        try:
            if self._pods is None:
                self._pods = KnitRunPods(KnitHook().settings.kubernetes)
            return {pod.run_id for pod in self._pods.run_pods()}
        except Exception as err:
            self.log.warning("pods not checked: %s", err)
            return None
