"""Knit asset events that Airflow left stranded are queued again for their consumer DAGs.

Airflow 3.3 can strand asset events of a burst (upstream apache/airflow #56050 and its relatives): the scheduler
creates a DagRun for the first events and deletes the DAG's asset queue row (``asset_dag_run_queue``) while later
events are being registered, so those events wait, unconsumed, until some later event happens to arrive. For a
KnitAsset that later event may never come, and its Data would never reach the consumer. The catalog knows every
Data was delivered; this check, run by the triggerer every few seconds, finds KnitAsset events that no DagRun of an
unpaused consumer has taken and that no queue row stands for, and puts the queue row back, as registering the
event would have: the scheduler's next loop then makes a DagRun holding them (its window starts after the DAG's
last asset-triggered run, where these events are). Nothing is emitted again; only Knit's own assets are touched.

It uses its own connection to Airflow's database (never the scoped session of the thread it runs beside).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

CHECK_EVERY_S = 2.0
#: an event younger than this may still be on its normal way into a DagRun
SETTLE_S = 3.0


def requeue_stranded(session: Any, *, settle_s: float = SETTLE_S, now: datetime | None = None) -> list[tuple]:
    """Queue again, for each unpaused DAG scheduled on a Knit asset, the events no DagRun of it consumed and no queue
    row stands for; returns the ``(asset id, dag id, newest event time)`` queued."""
    from airflow.models.asset import (
        AssetDagRunQueue,
        AssetEvent,
        AssetModel,
        DagScheduleAssetReference,
        association_table,
    )
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from sqlalchemy import func, select

    before = (now or datetime.now(UTC)) - timedelta(seconds=settle_s)
    consumers = session.execute(
        select(DagScheduleAssetReference.asset_id, DagScheduleAssetReference.dag_id)
        .join(AssetModel, AssetModel.id == DagScheduleAssetReference.asset_id)
        .join(DagModel, DagModel.dag_id == DagScheduleAssetReference.dag_id)
        .where(AssetModel.uri.like("knit://%"), DagModel.is_paused.is_(False))
    ).all()
    queued = []
    for asset_id, dag_id in consumers:
        if session.get(AssetDagRunQueue, (asset_id, dag_id)) is not None:
            continue
        last_run = session.scalar(
            select(func.max(DagRun.run_after)).where(DagRun.dag_id == dag_id, DagRun.run_type == "asset_triggered")
        )
        taken = (
            select(association_table.c.event_id)
            .join(DagRun, DagRun.id == association_table.c.dag_run_id)
            .where(DagRun.dag_id == dag_id)
        )
        waiting = select(func.max(AssetEvent.timestamp)).where(
            AssetEvent.asset_id == asset_id, AssetEvent.timestamp < before, AssetEvent.id.not_in(taken)
        )
        if last_run is not None:
            waiting = waiting.where(AssetEvent.timestamp > last_run)
        newest = session.scalar(waiting)
        if newest is not None:
            session.add(AssetDagRunQueue(asset_id=asset_id, target_dag_id=dag_id, created_at=newest))
            queued.append((asset_id, dag_id, newest))
    session.commit()
    return queued


class StrandedWatch:
    """A daemon thread running :func:`requeue_stranded` every ``CHECK_EVERY_S`` on its own engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="knit-stranded-events", daemon=True)

    def start(self) -> StrandedWatch:
        self.thread.start()
        return self

    def _run(self) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.orm import Session
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool)
        try:
            while not self.stopped.wait(CHECK_EVERY_S):
                try:
                    with Session(engine) as session:
                        for asset_id, dag_id, newest in requeue_stranded(session):
                            log.warning(
                                "Knit asset %s: events up to %s were stranded for DAG %s; queued again",
                                asset_id, newest, dag_id,
                            )  # fmt: skip
                except Exception:  # a busy database: try again on the next round
                    log.debug("stranded-event check failed", exc_info=True)
        finally:
            engine.dispose()
