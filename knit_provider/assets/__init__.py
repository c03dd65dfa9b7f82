"""Knit Data as Airflow assets: schedule any DAG on Knit Data by tags.

```python
from knit_provider.assets import KnitAsset, knit_ids

@dag(schedule=[KnitAsset(tags=["type:model", "project:p"])])
def report():
    @task
    def each_model(*, triggering_asset_events=None):
        for knit_id in knit_ids(triggering_asset_events):
            ...
```

Each Data that becomes usable (its Run done) and carries the tags is one asset event, delivered once; its
``extra["payload"]`` holds the knit id, the tags, the producing Run and Plan and a link to the Data's page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import Asset, AssetWatcher

from knit_provider.hooks.knit import KnitHook
from knit_provider.service.assets import DEFAULT_CATALOG, AssetSpec, knit_ids_of_events
from knit_provider.triggers.assets import KnitAssetTrigger

__all__ = ["KnitAsset", "knit_ids"]


class KnitAsset(Asset):
    """The Airflow ``Asset`` of the Knit Data carrying all ``tags`` (named ``knit: tag, tag``, URI
    ``knit://<catalog>/data?tag=...``), watched by a ``KnitAssetTrigger`` (an ``AssetWatcher``).

    ``backfill``: also deliver the matching Data that were usable before the asset was first watched (by default
    only Data usable from then on). ``watch=False`` declares the asset without a watcher (inlets and outlets of
    Knit's Plan DAGs, for Airflow's asset graph). The same tags give the same asset wherever it is declared.
    """

    def __init__(
        self,
        tags: Iterable[str],
        *,
        catalog_name: str = DEFAULT_CATALOG,
        knit_conn_id: str = KnitHook.default_conn_name,
        backfill: bool = False,
        watch: bool = True,
    ) -> None:
        spec = AssetSpec.of(tags, catalog_name)
        watchers = []
        if watch:
            trigger = KnitAssetTrigger(
                tags=list(spec.tags), catalog_name=spec.catalog, knit_conn_id=knit_conn_id, backfill=backfill
            )
            watchers.append(AssetWatcher(name=f"knit-{spec.key[:16]}", trigger=trigger))
        super().__init__(
            name=spec.name, uri=spec.uri, group="knit", extra={"knit_tags": list(spec.tags)}, watchers=watchers
        )


def knit_ids(triggering_asset_events: Mapping[Any, Iterable[Any]] | Iterable[Any] | None) -> list[str]:
    """Every knit id in a DagRun's ``triggering_asset_events`` (or a list of asset events), in order, once each:
    under Airflow's batching one DagRun may carry several Data."""
    if triggering_asset_events is None:
        return []
    if isinstance(triggering_asset_events, Mapping):
        events = [e for group in triggering_asset_events.values() for e in group]
    else:
        events = list(triggering_asset_events)
    return knit_ids_of_events(events)
