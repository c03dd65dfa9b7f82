"""``KnitDataSensor``: a classic task that waits for Knit Data by tags.

```python
wait = KnitDataSensor(task_id="wait_model", tags=["type:model", "project:p"], since="{{ data_interval_start }}")
```
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

from knit_provider.hooks.data import KnitDataHook
from knit_provider.hooks.knit import KnitHook
from knit_provider.triggers.data import KnitDataTrigger


def since_text(since: Any) -> str | None:
    """``since`` as the catalog's time filter reads it: a datetime, or text (RFC 3339, ``YYYY-mm-dd[THH...]``)."""
    if since in (None, "", "None"):
        return None
    if isinstance(since, datetime):
        return since.isoformat()
    return str(since).strip()


class KnitDataSensor(BaseSensorOperator):
    """Succeeds when usable Data (their Run done) carrying all ``tags`` exist, finished at or after ``since``
    (templated; none: any time); its XCom is their knit ids, oldest first. Deferrable by default: the wait is a
    poll in the triggerer, sharing the catalog feed's one query with every Knit watcher there."""

    template_fields: Sequence[str] = ("tags", "since")
    ui_color = "#1c9930"

    def __init__(
        self,
        *,
        tags: Sequence[str],
        since: Any = None,
        knit_conn_id: str = KnitHook.default_conn_name,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", timedelta(days=1))
        super().__init__(**kwargs)
        self.tags = list(tags)
        self.since = since
        self.knit_conn_id = knit_conn_id
        self.deferrable = deferrable

    def _found(self) -> list[str]:
        return KnitDataHook(self.knit_conn_id).find_usable(self.tags, since=since_text(self.since))

    def poke(self, context: Context) -> PokeReturnValue:
        found = self._found()
        return PokeReturnValue(bool(found), found or None)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        found = self._found()
        if found:
            return found
        self.defer(
            trigger=KnitDataTrigger(tags=self.tags, since=since_text(self.since), knit_conn_id=self.knit_conn_id),
            method_name="execute_complete",
            timeout=self.timeout if isinstance(self.timeout, timedelta) else timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[str]:
        return list((event or {}).get("knit_ids") or [])
