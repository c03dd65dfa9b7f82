"""The plugin's listener: Airflow tells the catalog which KnitAsset events it committed.

``on_asset_event_emitted`` runs in the process that registers the event (for a watcher's event, the triggerer's
supervisor), inside Airflow's transaction: the catalog's delivery is confirmed once that transaction commits, with
Airflow's asset and event ids (the Data page links to them). ``on_starting`` in a starting triggerer settles the
deliveries a crash left unconfirmed: each is looked up among Airflow's asset events and confirmed, or queued to be
sent again, so a restart neither loses nor repeats an event; the running triggerer does the same every
``SETTLE_EVERY_S`` for deliveries sent ``LOST_AFTER_MS`` ago (Airflow drops an event whose trigger is being
re-created after a DAG parse). A Run's task's outlet event is announced in the api-server, which has no session
of ours to follow: it is looked up once committed.
"""

from __future__ import annotations

import functools
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from airflow.listeners import hookimpl

from knit_provider.api.stranded import StrandedWatch
from knit_provider.hooks.knit import KnitHook
from knit_provider.service import assets
from knit_provider.service.assets import AssetSpec
from knit_provider.service.settings import KnitSettings

log = logging.getLogger(__name__)


def _knit_id(extra: Any) -> str | None:
    payload = extra.get("payload") if isinstance(extra, dict) else None
    knit_id = payload.get("knit_id") if isinstance(payload, dict) else None
    return knit_id if isinstance(knit_id, str) else None


class _Worker:
    """One background thread doing the listener's catalog work, in order. Never on the caller's thread: Airflow's
    scoped session is per thread, and looking up the ``knit`` connection there would close the session Airflow is
    in the middle of using."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="knit-asset-listener", daemon=True)
                self.thread.start()
        self.jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                job()
            except Exception:
                log.exception("Knit asset listener")
            finally:
                self.jobs.task_done()

    def run_now(self, job: Callable[[], None], timeout: float = 60.0) -> None:
        """Do ``job`` on the worker and wait for it (and everything before it)."""
        done = threading.Event()

        def wrapped() -> None:
            try:
                job()
            finally:
                done.set()

        self.submit(wrapped)
        done.wait(timeout)


_worker = _Worker()
#: the Knit settings, resolved once when an Airflow component starts (``on_starting``): a confirmation must not
#: look up the ``knit`` connection, since on SQLite Airflow's database connection is shared with the very
#: transaction that is committing the event
_settings: list[KnitSettings] = []


def _knit_settings() -> KnitSettings:
    if not _settings:
        _settings.append(KnitHook(None).settings)  # [knit] config and KNIT_* only: no database look-up
    return _settings[0]


def _confirm(uri: str, knit_id: str, asset_id: int | None, event_id: int | None) -> None:
    try:
        with _knit_settings().open_knit(migrate=False) as knit:
            assets.confirm(knit, uri, knit_id, asset_id=asset_id, event_id=event_id)
    except Exception:  # the event is Airflow's now; the triggerer's next settlement confirms the delivery
        log.exception("could not confirm the asset event of Knit Data %s on %s", knit_id, uri)


#: how long a task's outlet event may take to be committed after Airflow announced it (3.3 announces it after
#: the commit; older versions inside the transaction)
COMMIT_WAIT_S = 10.0


def _confirm_when_committed(uri: str, knit_id: str) -> None:
    """Confirm a task's outlet event once Airflow's transaction holding it committed (looked up in a session of our
    own: the one registering the event is the execution API's, not the scoped one). Not found in time, the
    triggerer's settlement confirms it or queues it again."""
    deadline = time.monotonic() + COMMIT_WAIT_S
    while True:
        found = in_airflow(uri, [knit_id], latest=20)
        if knit_id in found:
            _confirm(uri, knit_id, *found[knit_id])
            return
        if time.monotonic() > deadline:
            return
        time.sleep(0.2)


def _ids_in_session(session: Any, uri: str, knit_id: str) -> tuple[int | None, int | None]:
    """Airflow's asset id and the (flushed, not yet committed) event's id."""
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import select

    asset_id = session.scalar(select(AssetModel.id).where(AssetModel.uri == uri))
    event_id = None
    if asset_id is not None:
        for candidate_id, extra in session.execute(
            select(AssetEvent.id, AssetEvent.extra)
            .where(AssetEvent.asset_id == asset_id)
            .order_by(AssetEvent.id.desc())
            .limit(20)
        ):
            if _knit_id(extra) == knit_id:
                event_id = candidate_id
                break
    return asset_id, event_id


def in_airflow(
    uri: str, knit_ids: Sequence[str], *, latest: int | None = None
) -> dict[str, tuple[int | None, int | None]]:
    """Which of these Data Airflow holds an asset event for on the asset ``uri`` (with the asset and event ids),
    among all its events or its ``latest`` ones."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    wanted, found = set(knit_ids), {}
    with create_session() as session:
        asset_id = session.scalar(select(AssetModel.id).where(AssetModel.uri == uri))
        if asset_id is None:
            return {}
        events = select(AssetEvent.id, AssetEvent.extra).where(AssetEvent.asset_id == asset_id)
        if latest is not None:
            events = events.order_by(AssetEvent.id.desc()).limit(latest)
        for event_id, extra in session.execute(events):
            knit_id = _knit_id(extra)
            if knit_id in wanted:
                found[knit_id] = (asset_id, event_id)
    return found


_stranded: list[StrandedWatch] = []


def _watch_stranded() -> None:
    """Start, once per triggerer, the check that queues stranded KnitAsset events again (``api.stranded``)."""
    if _stranded:
        return
    try:
        from airflow.configuration import conf

        _stranded.append(StrandedWatch(conf.get("database", "sql_alchemy_conn")).start())
    except Exception:
        log.exception("could not start the stranded Knit asset event check")


class KnitAssetListener:
    @hookimpl
    def on_asset_event_emitted(self, asset_event: Any) -> None:
        uri = getattr(asset_event.asset, "uri", "")
        knit_id = _knit_id(asset_event.extra)
        if knit_id is None or AssetSpec.from_uri(uri) is None:
            return
        if getattr(asset_event, "source_task_id", None):  # a Run's task's outlet event, in the api-server
            _worker.submit(functools.partial(_confirm_when_committed, uri, knit_id))
            return
        try:
            from airflow import settings
            from sqlalchemy import event

            session = settings.Session()  # the scoped session the event is being registered in
            asset_id, event_id = _ids_in_session(session, uri, knit_id)
            event.listen(session, "after_commit", lambda _s: _confirm(uri, knit_id, asset_id, event_id), once=True)
        except Exception:
            log.exception("could not follow the asset event of Knit Data %s", knit_id)

    @hookimpl
    def on_starting(self, component: Any) -> None:
        if type(component).__name__ == "TaskRunnerMarker":
            # a task process: its connection look-up goes through the Task SDK's channel to its supervisor, which
            # a worker thread cannot use while the task waits (it stalled every task's start by run_now's 60 s)
            return

        def resolve() -> None:
            try:
                _settings[:] = [KnitHook().settings]
            except Exception:
                log.exception("could not read the Knit settings; the [knit] config is used")

        _worker.run_now(resolve)  # Airflow waits: nothing else uses its database meanwhile
        if "triggerer" not in sys.argv[1:3]:  # only a starting triggerer settles: no watcher of its runs yet
            return
        _watch_stranded()
        _worker.run_now(functools.partial(_settle, assets.IN_FLIGHT_MS))  # before the triggerer runs a trigger
        _settle_periodically()


#: a delivery sent this long ago that Airflow holds no asset event for was lost on its way: Airflow drops a
#: watcher's event that arrives while a DAG parse re-creates the watcher's trigger. It is sent again.
LOST_AFTER_MS = 30_000
#: how often a running triggerer looks for such deliveries
SETTLE_EVERY_S = 10.0


def _settle(in_flight_ms: int) -> None:
    """Confirm the deliveries Airflow holds an asset event for, queue the others to be sent again."""
    try:
        with _knit_settings().open_knit() as knit:
            counts = assets.settle_unconfirmed(knit, in_airflow, in_flight_ms=in_flight_ms)
        if any(counts.values()):
            log.info("Knit asset deliveries sent but not confirmed, settled: %s", counts)
    except Exception:
        log.exception("could not settle Knit asset deliveries; they stay unconfirmed until the next round")


_settler: list[threading.Thread] = []


def _settle_periodically() -> None:
    """Start, once per triggerer, the round that settles deliveries lost on their way (``LOST_AFTER_MS``)."""
    if _settler:
        return

    def rounds() -> None:
        while True:
            time.sleep(SETTLE_EVERY_S)
            _worker.submit(functools.partial(_settle, LOST_AFTER_MS))

    _settler.append(threading.Thread(target=rounds, name="knit-asset-settle", daemon=True))
    _settler[0].start()


listener = KnitAssetListener()
