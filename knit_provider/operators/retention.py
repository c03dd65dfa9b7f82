"""``KnitRetentionOperator``: the one task (``apply_policies``) of the ``knit_retention`` DAG (``dags.retention``).

It reads the policies (the ``knit`` connection's
``retention`` extra, else ``<knit home>/retention.yaml``), applies each, logs every purged knit id with its bytes
and a total per policy, and keeps each policy's report in the catalog (the Retention page shows the last one).
Data that are inputs of unfinished Runs are never purged. Without policies the task does nothing.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context

from knit_provider.hooks.knit import KnitHook
from knit_provider.hooks.retention import declared_retention
from knit_provider.service import retention as retention_service


class KnitRetentionOperator(BaseOperator):
    """Applies every declared retention policy; ``dry_run`` only reports what would go."""

    ui_color = "#808080"

    def __init__(self, *, knit_conn_id: str = KnitHook.default_conn_name, dry_run: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.knit_conn_id = knit_conn_id
        self.dry_run = dry_run

    def execute(self, context: Context) -> dict[str, Any]:
        hook = KnitHook(self.knit_conn_id)
        with hook.get_conn() as knit:
            declared = retention_service.load_policies(knit, declared_retention(self.knit_conn_id))
            if not declared["policies"]:
                self.log.info("no retention policy declared (%s): nothing to do", declared["source"])
                return {"policies": 0, "purged": 0, "bytes": 0}
            self.log.info("%d policies from %s", len(declared["policies"]), declared["source"])
            reports = retention_service.apply_policies(
                knit,
                declared,
                dry_run=self.dry_run,
                on_purged=lambda knit_id, size: self.log.info("purged %s (%d bytes)", knit_id, size),
            )
        for report in reports:
            self.log.info(
                "policy %s: %s %d Data, %d bytes freed; %d protected (inputs of unfinished Runs, downloads), "
                "%d skipped",
                report["policy"],
                "would purge" if self.dry_run else "purged",
                report["count"],
                report["bytes"],
                len(report["protected"]),
                len(report["skipped"]),
            )
        return {
            "policies": len(reports),
            "purged": sum(r["count"] for r in reports),
            "bytes": sum(r["bytes"] for r in reports),
        }
