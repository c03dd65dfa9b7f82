"""The plugin's asset listener inside Airflow's own event path: ``Trigger.submit_event`` (what the triggerer does with
a watcher's event) against a real, migrated Airflow metadata database (SQLite, as ``airflow standalone``), in a
subprocess with the triggerer's server context. The listener must confirm each delivery with Airflow's asset and
event ids, and must never disturb the transaction Airflow is committing the event in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.assets, pytest.mark.slow]

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from airflow.utils.session import create_session
    from airflow.models.asset import AssetActive, AssetEvent, AssetModel, AssetWatcherModel, DagScheduleAssetReference
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.trigger import Trigger
    from airflow.triggers.base import TriggerEvent
    from airflow.listeners.listener import get_listener_manager
    from knit_provider.api import listeners
    from knit_provider.service import Knit, assets, data
    from knit_provider.service.assets import AssetSpec

    spec = AssetSpec.of(["type:model"])
    with create_session() as s:  # a KnitAsset watched for an unpaused consumer DAG, as the dag-processor leaves it
        asset = AssetModel(name=spec.name, uri=spec.uri, group="knit")
        s.add(asset)
        s.add(DagBundleModel(name="dags-folder"))
        s.flush()
        s.add(AssetActive.for_asset(asset))
        trigger = Trigger(classpath="knit_provider.triggers.assets.KnitAssetTrigger", kwargs={"tags": list(spec.tags)})
        s.add(trigger)
        s.add(DagModel(dag_id="consumer", is_paused=False, bundle_name="dags-folder"))
        s.flush()
        s.add(AssetWatcherModel(name="w", asset_id=asset.id, trigger_id=trigger.id))
        s.add(DagScheduleAssetReference(dag_id="consumer", asset_id=asset.id))
        trigger_id = trigger.id
    listeners.listener.on_starting(None)
    knit = Knit.open(home=os.environ["KNIT_HOME"])
    assets.start_watch(knit, spec)
    for i in range(3):
        folder = os.path.join(os.environ["KNIT_HOME"], f"in{i}")
        os.makedirs(folder)
        open(os.path.join(folder, "f"), "w").write(str(i))
        data.push_dir(knit, folder, ["type:model"])
    for extra in assets.due_events(knit, spec, head=assets.feed_head(knit)):
        Trigger.submit_event(trigger_id, TriggerEvent(extra))  # raises if the listener broke Airflow's session
    listeners._worker.run_now(lambda: None)
    with create_session() as s:
        rows = s.query(AssetEvent).order_by(AssetEvent.id)
        events = [(e.id, e.asset_id, e.extra["payload"]["knit_id"]) for e in rows]
    deliveries = [(d["knit_id"], d["state"], d["airflow_asset_id"], d["airflow_event_id"])
                  for d in assets.deliveries_to(knit, spec)]

    # the scheduler strands them: a DagRun takes only the first event and the queue row goes
    from datetime import timedelta
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType
    from knit_provider.api.stranded import requeue_stranded
    with create_session() as s:
        first = s.get(AssetEvent, events[0][0])
        run = DagRun(dag_id="consumer", run_id="asset_triggered__1", run_type=DagRunType.ASSET_TRIGGERED,
                     run_after=first.timestamp, state="running")
        run.consumed_asset_events.append(first)
        s.add(run)
        s.query(AssetDagRunQueue).delete()
    with create_session() as s:
        later = s.get(AssetEvent, events[-1][0]).timestamp
        stranded = requeue_stranded(s, settle_s=0, now=later + timedelta(seconds=1))
        again = requeue_stranded(s, settle_s=0, now=later + timedelta(seconds=1))
        queued = [(q.asset_id, q.target_dag_id, q.created_at == later) for q in s.query(AssetDagRunQueue)]
    with create_session() as s:  # once a DagRun took them all, nothing is stranded
        s.query(AssetDagRunQueue).delete()
        run = DagRun(dag_id="consumer", run_id="asset_triggered__2", run_type=DagRunType.ASSET_TRIGGERED,
                     run_after=later, state="running")
        run.consumed_asset_events.extend(s.query(AssetEvent).filter(AssetEvent.id != events[0][0]).all())
        s.add(run)
    with create_session() as s:
        settled = requeue_stranded(s, settle_s=0, now=later + timedelta(seconds=1))
    print(json.dumps({"events": events, "deliveries": deliveries, "stranded": len(stranded), "again": len(again),
                      "queued": queued, "settled": len(settled)}))
    """
)


def test_the_listener_confirms_each_event_airflow_commits_and_stranded_events_are_queued_again(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__KNIT__KNIT_HOME": str(tmp_path / "knit"),
        "KNIT_HOME": str(tmp_path / "knit"),
        "_AIRFLOW_PROCESS_CONTEXT": "server",  # as in the triggerer's supervisor, which submits watcher events
    }
    env.pop("KNIT_CATALOG_URL", None)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    events = {knit_id: (event_id, asset_id) for event_id, asset_id, knit_id in result["events"]}
    assert len(events) == 3
    for knit_id, state, asset_id, event_id in result["deliveries"]:
        assert state == "delivered"
        assert (event_id, asset_id) == events[knit_id]
    # stranded events (no DagRun took them, no queue row) are queued again, once, up to the newest of them
    assert (result["stranded"], result["again"]) == (1, 0)
    assert result["queued"] == [[result["events"][0][1], "consumer", True]]
    assert result["settled"] == 0, "events a DagRun took are never queued again"
