"""Classic tasks that produce and fetch Knit Data: ``KnitPushOperator`` and ``KnitPullOperator``.

```python
ingest = KnitPushOperator(task_id="ingest", source="/data/batch-{{ ds }}", tags=["type:dataset", "project:p"])
fetch = KnitPullOperator(task_id="fetch", knit_id="{{ ti.xcom_pull('ingest') }}", dest="/tmp/in")
```
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from knit_provider.hooks.data import KnitDataHook
from knit_provider.hooks.knit import KnitHook


class KnitPushOperator(BaseOperator):
    """Push a directory (or an ``ObjectStoragePath``) as Knit Data tagged ``tags`` (plus ``name:<name>``); its XCom
    is the knit id. The Data's lineage root is this task instance; Runs the Data cause start at once. A retry of
    the task returns the Data its earlier try pushed (one Data per task instance and ``push_key``)."""

    template_fields: Sequence[str] = ("source", "tags", "name")
    ui_color = "#3cb371"

    def __init__(
        self,
        *,
        source: Any,
        tags: Sequence[str],
        name: str | None = None,
        push_key: str = "push",
        knit_conn_id: str = KnitHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.tags = list(tags)
        self.name = name
        self.push_key = push_key
        self.knit_conn_id = knit_conn_id

    def execute(self, context: Context) -> str:
        return KnitDataHook(self.knit_conn_id).push(
            self.source, self.tags, name=self.name or None, push_key=self.push_key, context=context
        )


class KnitPullOperator(BaseOperator):
    """Copy a Knit Data's content into ``dest`` (a local directory or an ``ObjectStoragePath``), as
    ``DEST/<knit id>/``; its XCom is that path."""

    template_fields: Sequence[str] = ("knit_id", "dest")
    ui_color = "#3cb371"

    def __init__(
        self, *, knit_id: str, dest: Any, knit_conn_id: str = KnitHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.knit_id = knit_id
        self.dest = dest
        self.knit_conn_id = knit_conn_id

    def execute(self, context: Context) -> str:
        return KnitDataHook(self.knit_conn_id).pull(str(self.knit_id).strip(), self.dest)
