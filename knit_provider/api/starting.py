"""Push-time start in the api-server: the Runs a Knit route's write made waiting become DagRuns a moment later,
created as the caller through Airflow's own REST API, by one starter thread per api-server process.

Why a thread of its own, and why so careful: the DagRuns are created by calling this very api-server. Done from
the request (or from a response's background task, which runs on the same worker pool), every upload would hold a
worker while waiting for another worker, and a burst of uploads would exhaust them and pile writes on Airflow's
metadata database until its components time out (seen with SQLite: the scheduler exiting on "database is
locked"). So a write only hands its Run ids to a bounded queue and returns; the one thread starts them, one call
at a time, merging what queued meanwhile; and under load (a full queue, a slow or refused call) push-time start
steps aside for ``PAUSE_S`` and leaves the Runs to the generator, which starts them in batches. The Runs are
never claimed before the thread takes them, so whatever is dropped here the generator starts without delay.
The caller's token is used, so a DagRun is created only for someone Airflow lets trigger DAG runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from fastapi import Request

from knit_provider.airflow_client.dagruns import TIMEOUT_S, AirflowEndpoint, AirflowUnavailable, DagRunStarter
from knit_provider.core.airflow_names import Dispatch
from knit_provider.service.context import Dispatcher, Knit, LeaveToGenerator
from knit_provider.service.starting import start_now

log = logging.getLogger(__name__)

#: Run ids waiting for the starter thread; a write that would overflow it leaves its Runs to the generator.
QUEUE_LIMIT = 64
#: A call to Airflow slower than this (per Run started) means Airflow is busy: push-time start pauses.
SLOW_CALL_S = 2.0
#: How long push-time start stays off after a slow or failed call (the generator starts everything meanwhile).
PAUSE_S = 15.0


@dataclass(frozen=True)
class _Batch:
    knit: Knit
    run_ids: list[str]
    endpoint: AirflowEndpoint


class BackgroundStarter:
    """One per api-server process (``STARTER``): a bounded queue of Runs to start, drained by one daemon thread."""

    def __init__(self, *, redispatch_after_s: float) -> None:
        self.redispatch_after_s = redispatch_after_s
        self._lock = threading.Lock()
        self._queue: deque[_Batch] = deque()
        self._queued = 0
        self._paused_until = 0.0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._clients: dict[str, httpx.Client] = {}

    def submit(self, knit: Knit, run_ids: Sequence[str], endpoint: AirflowEndpoint) -> bool:
        """Queue the Runs for the thread; False (left to the generator) when paused or the queue is full."""
        with self._lock:
            if time.monotonic() < self._paused_until or self._queued + len(run_ids) > QUEUE_LIMIT:
                return False
            self._queue.append(_Batch(knit, list(run_ids), endpoint))
            self._queued += len(run_ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="knit-run-starter", daemon=True)
                self._thread.start()
        self._wake.set()
        return True

    def _take(self) -> _Batch | None:
        """The oldest batch merged with the queued ones of the same caller (one claim, one login for them all)."""
        with self._lock:
            if not self._queue:
                return None
            first = self._queue.popleft()
            run_ids = list(first.run_ids)
            for batch in [b for b in self._queue if b.endpoint == first.endpoint]:
                self._queue.remove(batch)
                run_ids += batch.run_ids
            self._queued -= len(run_ids)
            return _Batch(first.knit, run_ids, first.endpoint)

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while (batch := self._take()) is not None:
                self._start(batch)

    def _client(self, url: str) -> httpx.Client:
        if url not in self._clients:
            self._clients[url] = httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT_S)
        return self._clients[url]

    def _start(self, batch: _Batch) -> None:
        starter = DagRunStarter(batch.endpoint, client=self._client(batch.endpoint.url))
        overloaded: list[AirflowUnavailable] = []

        def start(dispatch: Dispatch, may_clear: Callable[[], bool]) -> None:
            try:
                starter.start(dispatch, may_clear)
            except AirflowUnavailable as err:
                if err.overloaded:
                    overloaded.append(err)
                raise

        began = time.monotonic()
        try:
            report = start_now(
                batch.knit,
                batch.run_ids,
                start,
                refusals=(AirflowUnavailable,),
                redispatch_after_s=self.redispatch_after_s,
            )
        except Exception:
            log.exception("starting Runs %s failed; left to the generator", batch.run_ids)
            self._pause("an error")
            return
        took = time.monotonic() - began
        if report.deferred:
            log.info("Runs left to the generator: %s", report.deferred)
        if overloaded:
            self._pause(str(overloaded[0]))
        elif took > SLOW_CALL_S * max(1, len(report.started)):
            self._pause(f"starting {len(report.started)} Run(s) took {took:.1f} s")

    def _pause(self, why: str) -> None:
        """Step aside for ``PAUSE_S``: drop what is queued (never claimed: the generator starts it)."""
        with self._lock:
            self._paused_until = time.monotonic() + PAUSE_S
            dropped = sum(len(b.run_ids) for b in self._queue)
            self._queue.clear()
            self._queued = 0
        log.warning("push-time start paused for %.0f s (%s); %d queued Run(s) left to the generator", PAUSE_S, why,
                    dropped)  # fmt: skip


_STARTER: BackgroundStarter | None = None
_STARTER_LOCK = threading.Lock()


def background_starter(redispatch_after_s: float) -> BackgroundStarter:
    global _STARTER
    with _STARTER_LOCK:
        if _STARTER is None:
            _STARTER = BackgroundStarter(redispatch_after_s=redispatch_after_s)
        return _STARTER


def caller_endpoint(request: Request) -> AirflowEndpoint | None:
    """This api-server's base URL (the Knit app's mount point stripped) with the caller's token."""
    authorization = request.headers.get("authorization", "")
    token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    token = token or request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    if not token:
        return None
    root = request.scope.get("root_path", "").rstrip("/")
    airflow_root = root[: -len("/knit")] if root.endswith("/knit") else root
    return AirflowEndpoint(url=f"{request.url.scheme}://{request.url.netloc}{airflow_root}", token=token)


class CallerDispatcher:
    """A request's dispatcher: hands the Runs its writes made waiting to the process's starter thread."""

    def __init__(self, starter: BackgroundStarter, endpoint: AirflowEndpoint) -> None:
        self.starter = starter
        self.endpoint = endpoint

    def runs_waiting(self, knit: Knit, run_ids: Sequence[str]) -> None:
        if not self.starter.submit(knit, run_ids, self.endpoint):
            log.info("push-time start is busy: %d Run(s) left to the generator", len(run_ids))


def dispatcher_for(request: Request, redispatch_after_s: float) -> Dispatcher:
    endpoint = caller_endpoint(request)
    if endpoint is None:
        return LeaveToGenerator()
    return CallerDispatcher(background_starter(redispatch_after_s), endpoint)
