"""``KnitWorkSensor``: waits, deferred in the triggerer, until the catalog holds work for the generator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context

from knit_provider.hooks.knit import KnitHook
from knit_provider.service.execution import pending_work
from knit_provider.triggers.catalog import KnitCatalogTrigger


class KnitWorkSensor(BaseSensorOperator):
    """Succeeds when Runs are due for dispatch, a held Run needs reconciling, or a pass was forced.

    Deferrable by default: the wait costs no worker slot, only a poll in the triggerer. Its XCom is the
    wake-up's reason and counts, e.g. ``{"reason": "dispatch", "dispatchable": 3, "held": 1}``.
    """

    def __init__(
        self,
        *,
        knit_conn_id: str = KnitHook.default_conn_name,
        deferrable: bool = True,
        forced_dag_id: str | None = None,
        idle_timeout: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", timedelta(days=1))
        super().__init__(**kwargs)
        self.knit_conn_id = knit_conn_id
        self.deferrable = deferrable
        self.forced_dag_id = forced_dag_id
        self.idle_timeout = idle_timeout

    def _work(self) -> dict[str, Any] | None:
        settings = KnitHook(self.knit_conn_id).settings
        with settings.open_knit() as knit:
            work = pending_work(knit.engine, redispatch_after_s=settings.redispatch_after_s)
        return {"reason": "dispatch", **work.as_dict()} if work.dispatchable else None

    def poke(self, context: Context) -> bool:
        return self._work() is not None

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        ready = self._work()  # work already waiting: no deferral round trip
        if ready is not None:
            return ready
        settings = KnitHook(self.knit_conn_id).settings
        self.defer(
            trigger=KnitCatalogTrigger.from_settings(
                settings, forced_dag_id=self.forced_dag_id, idle_timeout=self.idle_timeout, once=True
            ),
            method_name="execute_complete",
            timeout=self.execution_timeout,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self.log.info("woken: %s", event)
        return event or {}
