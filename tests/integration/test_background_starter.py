"""The api-server's push-time start (``api.starting``) against a real HTTP server on loopback that answers Airflow's
DagRun endpoint as the test says: a write only queues its Runs and never waits for Airflow; one thread starts them;
a full queue, a refusal of a busy Airflow or a slow call make it step aside and leave the Runs, unclaimed, to the
generator."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from knit_dev.waiting import wait_until

from knit_provider.airflow_client.dagruns import AirflowEndpoint
from knit_provider.api import starting
from knit_provider.api.starting import QUEUE_LIMIT, BackgroundStarter
from knit_provider.service import data, dispatching, plans, runs
from knit_provider.service import starting as service_starting

pytestmark = pytest.mark.reliability
PLAN = "image: r/a:v1\ninputs: [{path: /in, tags: ['t:raw']}]\noutputs: [{path: /out, tags: ['t:mid']}]\n"


class FakeAirflow:
    """Airflow's ``POST /api/v2/dags/{dag}/dagRuns`` on loopback: records each call, answers ``status``; while
    ``gate`` is clear every call waits for it (a busy Airflow)."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.status = 200
        self.gate = threading.Event()
        self.gate.set()
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.arrived.set()
                outer.gate.wait(30)
                if outer.status == 200:
                    outer.created.append(body["dag_run_id"])
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> AirflowEndpoint:
        return AirflowEndpoint(url=f"http://127.0.0.1:{self.server.server_port}", token="caller-token")


@pytest.fixture
def airflow() -> Iterator[FakeAirflow]:
    fake = FakeAirflow()
    fake.thread.start()
    yield fake
    fake.gate.set()
    fake.server.shutdown()


@pytest.fixture
def waiting(knit, make_dir):
    """Make ``count`` Runs wait (no dispatcher: nothing starts them) and return their ids."""
    plan_id = plans.apply(knit, PLAN)["planId"]

    def make(count: int) -> list[str]:
        before = {r["runId"] for r in runs.find(knit, plan_ids=[plan_id])}
        for _ in range(count):
            data.push_dir(knit, make_dir(files={"x.txt": "x"}), ["t:raw"])
        return [r["runId"] for r in runs.find(knit, plan_ids=[plan_id]) if r["runId"] not in before]

    return make


def status(knit, run_id: str) -> str:
    return runs.show(knit, run_id)["status"]


def test_writes_only_queue_and_one_thread_starts_their_runs(knit, airflow, waiting) -> None:
    first, second = waiting(2)
    starter = BackgroundStarter(redispatch_after_s=60)
    airflow.gate.clear()  # Airflow holds every call: a write that waited for it would hang this test
    assert starter.submit(knit, [first], airflow.endpoint)
    assert airflow.arrived.wait(10), "the thread called Airflow"
    assert starter.submit(knit, [second], airflow.endpoint), "queued while the thread is busy, without waiting"
    airflow.gate.set()
    wait_until(lambda: len(airflow.created) == 2, 30, "both DagRuns created")
    assert airflow.created == [f"knit__{first}", f"knit__{second}"]
    wait_until(lambda: status(knit, second) == "ready", 10, "the Run marked started")
    assert status(knit, first) == "ready"


def test_a_full_queue_leaves_the_runs_to_the_generator_unclaimed(knit, airflow, waiting, monkeypatch) -> None:
    monkeypatch.setattr(service_starting, "BACKLOG_LIMIT", 10_000)  # every Run waits here: no backlog rule
    held, *rest = waiting(QUEUE_LIMIT + 2)
    starter = BackgroundStarter(redispatch_after_s=60)
    airflow.gate.clear()
    assert starter.submit(knit, [held], airflow.endpoint)
    assert airflow.arrived.wait(10)
    accepted = [starter.submit(knit, [run_id], airflow.endpoint) for run_id in rest]
    assert accepted == [True] * QUEUE_LIMIT + [False], "the queue is bounded"
    due = {d.run_id for d in dispatching.claim_dispatchable(knit, redispatch_after_s=60, run_ids=[rest[-1]])}
    assert due == {rest[-1]}, "the refused Run was never claimed: the generator takes it at once"
    airflow.status = 503  # then a busy Airflow: the thread drops the rest instead of working through it
    airflow.gate.set()
    wait_until(lambda: starter._paused_until > 0, 30, "push-time start paused")


@pytest.mark.parametrize("answer", [503, 429])
def test_a_busy_airflow_pauses_push_time_start(knit, airflow, waiting, answer: int) -> None:
    first, second = waiting(2)
    starter = BackgroundStarter(redispatch_after_s=60)
    airflow.status = answer
    assert starter.submit(knit, [first], airflow.endpoint)
    wait_until(lambda: starter._paused_until > 0, 30, "push-time start paused")
    assert not starter.submit(knit, [second], airflow.endpoint), "paused: left to the generator"
    assert airflow.created == []
    assert [status(knit, r) for r in (first, second)] == ["waiting", "waiting"]
    assert dispatching.pending_work(knit, redispatch_after_s=60).dispatchable == 2, "both due for the generator"


def test_a_slow_airflow_pauses_push_time_start(knit, airflow, waiting, monkeypatch) -> None:
    monkeypatch.setattr(starting, "SLOW_CALL_S", 0.2)
    first, second, third = waiting(3)
    starter = BackgroundStarter(redispatch_after_s=60)
    airflow.gate.clear()
    assert starter.submit(knit, [first], airflow.endpoint)
    assert airflow.arrived.wait(10)
    assert starter.submit(knit, [second], airflow.endpoint)
    threading.Timer(0.6, airflow.gate.set).start()  # the call takes longer than SLOW_CALL_S
    wait_until(lambda: starter._paused_until > 0, 30, "push-time start paused")
    assert not starter.submit(knit, [third], airflow.endpoint)
    assert airflow.created == [f"knit__{first}"], "the slow call succeeded; what queued behind it was dropped"
    wait_until(lambda: status(knit, first) == "ready", 10, "the started Run marked ready")
    assert dispatching.pending_work(knit, redispatch_after_s=60).dispatchable == 2
