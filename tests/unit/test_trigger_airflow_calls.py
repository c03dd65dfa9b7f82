"""``ask_airflow`` on Airflow's own trigger-runner channel (``TriggerCommsDecoder``), with a supervisor answering on
a socket pair: a trigger cancelled while its request waits for the answer leaves the channel in order, so the
trigger runner's next request gets its own answer. On Airflow 3.1 (the matrix runs this file) a plain
``sync_to_async`` call fails here with "Response read out of order", the crash that stopped the generator."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

import msgspec
from airflow.jobs.triggerer_job_runner import TriggerCommsDecoder
from airflow.sdk.execution_time.comms import DRCount, GetDRCount, _RequestFrame, _ResponseFrame

from knit_provider.triggers.airflow_calls import ask_airflow


class Supervisor(threading.Thread):
    """Answers each request with ``DRCount(count=<its request id>)``; the first only once ``release`` is set."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.received = threading.Event()
        self.release = threading.Event()
        self.decoder = msgspec.msgpack.Decoder(_RequestFrame)

    def run(self) -> None:
        first = True
        while (head := self._read(4)) is not None:
            frame = self.decoder.decode(self._read(int.from_bytes(head, "big")))
            if first:
                first = False
                self.received.set()
                self.release.wait(10)
            self.sock.sendall(_ResponseFrame(id=frame.id, body=DRCount(count=frame.id).model_dump()).as_bytes())

    def _read(self, size: int) -> bytes | None:
        buffer = b""
        while len(buffer) < size:
            try:
                chunk = self.sock.recv(size - len(buffer))
            except OSError:  # the test closed the channel
                return None
            if not chunk:
                return None
            buffer += chunk
        return buffer


async def next_answer_after_a_cancelled_request() -> object:
    runner_end, supervisor_end = socket.socketpair()
    supervisor = Supervisor(supervisor_end)
    supervisor.start()
    reader, writer = await asyncio.open_connection(sock=runner_end)
    channel = TriggerCommsDecoder(async_writer=writer, async_reader=reader, socket=runner_end)
    if hasattr(channel, "start_reader"):  # Airflow 3.2+ reads answers by id in a loop of its own
        await channel.start_reader()
    question = GetDRCount(dag_id="knit_generator", states=["queued"])
    try:
        trigger = asyncio.ensure_future(ask_airflow(channel.send, question))  # a trigger's Task SDK call
        await asyncio.to_thread(supervisor.received.wait, 10)
        trigger.cancel()  # it fired (or its task was cleared) while the answer is on its way
        with contextlib.suppress(asyncio.CancelledError):
            await trigger
        supervisor.release.set()
        return await asyncio.wait_for(channel.asend(question), 10)  # the trigger runner's own next request
    finally:
        writer.close()
        supervisor_end.close()


def test_a_request_cancelled_with_its_trigger_leaves_the_channel_in_order() -> None:
    answer = asyncio.run(next_answer_after_a_cancelled_request())
    assert isinstance(answer, DRCount) and answer.count == 1, "the second request got the first one's answer"
