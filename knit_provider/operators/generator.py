"""``KnitGeneratorOperator``: one generator pass — dispatch the waiting Runs, reconcile the held ones."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseOperator, Context

from knit_provider.hooks import dagruns
from knit_provider.hooks.knit import KnitHook
from knit_provider.operators.dispatch import start_dagruns
from knit_provider.service.execution import claim_dispatchable, reconcile


class KnitGeneratorOperator(BaseOperator):
    """Claims every Run due for dispatch and starts its DagRun; fails Runs whose task died (reconciliation).

    Idempotent and safe to run at any time: the catalog says what is pending, so a pass never depends on
    the wake-up that caused it. Returns what it did, as XCom.
    """

    ui_color = "#1c9930"

    def __init__(self, *, knit_conn_id: str = KnitHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.knit_conn_id = knit_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        return generator_pass(KnitHook(self.knit_conn_id), self.log)


def generator_pass(hook: KnitHook, log: logging.Logger) -> dict[str, Any]:
    """Start a DagRun for every Run due for dispatch, then fail the held Runs whose task died."""
    with hook.get_conn() as knit:
        claimed = claim_dispatchable(knit, redispatch_after_s=hook.settings.redispatch_after_s)
        report = start_dagruns(knit, claimed)
        ended = reconcile(knit, dagruns.dispatch_state)
    for run_id, ending in ended:
        log.warning("Run %s failed by reconciliation: %s", run_id, ending.message)
    return {**report.as_dict(), "reconciled": [run_id for run_id, _ in ended]}
