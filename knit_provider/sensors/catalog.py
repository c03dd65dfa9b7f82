"""``KnitWorkSensor``: waits, deferred in the triggerer, until the catalog holds work for the generator."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context

from knit_provider.hooks import dagruns
from knit_provider.hooks.knit import KnitHook
from knit_provider.hooks.pods import KnitRunPods
from knit_provider.listeners.publish import publish
from knit_provider.service.dispatching import pending_work
from knit_provider.service.generator import Timing, generator_pass
from knit_provider.service.lifecycle_hooks import hook_work
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

    @cached_property
    def hook(self) -> KnitHook:
        return KnitHook(self.knit_conn_id)

    def _work(self) -> dict[str, Any] | None:
        settings = self.hook.settings
        with settings.open_knit() as knit:
            work = pending_work(knit, redispatch_after_s=settings.redispatch_after_s)
            hooks = hook_work(knit, settings.hooks) if not work.dispatchable else 0
        if work.dispatchable:
            return {"reason": "dispatch", **work.as_dict()}
        return {"reason": "hooks", **work.as_dict(), "hooks": hooks} if hooks else None

    def poke(self, context: Context) -> bool:
        return self._work() is not None

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        ready = self._work()  # work already waiting: no deferral round trip
        if ready is not None:
            return self.on_wake(context, ready)
        self.defer(
            trigger=KnitCatalogTrigger.from_settings(
                self.hook.settings, forced_dag_id=self.forced_dag_id, idle_timeout=self.idle_timeout, once=True
            ),
            method_name="execute_complete",
            timeout=self.execution_timeout,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        self.log.info("woken: %s", event)
        return self.on_wake(context, event or {})

    def on_wake(self, context: Context, event: dict[str, Any]) -> Any:
        """What the sensor returns (its XCom) once there is work: here, the wake-up itself."""
        return event


class KnitGeneratorSensor(KnitWorkSensor):
    """The generator's task: waits like ``KnitWorkSensor``, then runs the generator pass in the same task.

    Doing the pass where the sensor wakes saves a whole scheduling round trip on every first Run of a push.
    A manually triggered DagRun (``airflow dags trigger knit_generator``) does its pass at once, without waiting.
    """

    ui_color = "#1c9930"

    def execute(self, context: Context) -> Any:
        run_type = getattr(context.get("dag_run"), "run_type", None)
        if getattr(run_type, "value", run_type) == "manual":
            return self.on_wake(context, {"reason": "manual"})
        return super().execute(context)

    def on_wake(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        settings = self.hook.settings
        timing = Timing.of(settings)
        pods = KnitRunPods(settings.kubernetes) if settings.runner == "kubernetes" else None
        with self.hook.get_conn() as knit:  # the Data store with its connection's credentials: the pass sweeps it
            done = generator_pass(
                knit, start=dagruns.start_dagrun, refusals=dagruns.REFUSALS, dagrun_states=dagruns.dispatch_states,
                timing=timing, publish=publish, pods=pods,
            )  # fmt: skip
        return {"woken_by": event, **done}
