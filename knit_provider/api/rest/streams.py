"""Bridges between ASGI's async byte streams and the service layer's blocking file objects, in bounded memory.

- ``BodyReader``: a request body as a blocking ``read(size)`` for a worker thread (``anyio.to_thread``); each read
  pulls the next chunks from the event loop, so at most one ASGI chunk plus ``size`` bytes are held, and uvicorn's
  flow control pauses the socket meanwhile: a 200 MiB upload is never in memory.
- ``from_writer``: a function that writes into a file object (the service's tar export) as an async iterator
  of chunks for ``StreamingResponse``; the writer runs in its own thread and blocks while the client is slow
  (a queue of ``QUEUED`` chunks), and stops when the client goes away.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO

import anyio
import anyio.from_thread
import anyio.to_thread

QUEUED = 8
_POLL_S = 0.5


class BodyReader:
    """``read(size)`` over an ASGI body iterator, for code running in an anyio worker thread."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._eof = False
        self.received = 0

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def _fill(self, size: int) -> None:
        while not self._eof and (size < 0 or len(self._buffer) < size):
            chunk = anyio.from_thread.run(self._next)
            if chunk is None:
                self._eof = True
            else:
                self.received += len(chunk)
                self._buffer += chunk

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        self._fill(size)
        if size < 0 or size >= len(self._buffer):
            data, self._buffer = bytes(self._buffer), bytearray()
            return data
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def drain(self) -> None:
        """Read and drop what the client still sends (so it can read the error reply rather than a reset)."""
        while await self._next() is not None:
            pass


class _Gone(Exception):
    """The response was abandoned (client disconnected): the writer thread stops here."""


class _QueueSink:
    """A write-only file object feeding the queue, blocking while it is full."""

    def __init__(self, chunks: queue.Queue, stopped: threading.Event) -> None:
        self._chunks = chunks
        self._stopped = stopped

    def write(self, data: bytes) -> int:
        if data:
            self._put(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def _put(self, item: object) -> None:
        while not self._stopped.is_set():
            try:
                self._chunks.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue
        raise _Gone


_END = object()


class _Producer:
    """``write(sink)`` running in its own thread, its chunks taken from a bounded queue."""

    def __init__(self, write: Callable[[BinaryIO], None]) -> None:
        self.chunks: queue.Queue = queue.Queue(maxsize=QUEUED)
        self.stopped = threading.Event()
        self.failure: list[BaseException] = []
        self._sink = _QueueSink(self.chunks, self.stopped)
        self._write = write
        self._thread = threading.Thread(target=self._produce, name="knit-download", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            self._write(self._sink)  # type: ignore[arg-type]
        except _Gone:
            return
        except BaseException as err:  # handed to the response, which aborts the transfer
            self.failure.append(err)
        with contextlib.suppress(_Gone):
            self._sink._put(_END)

    def take(self) -> object:
        while True:
            try:
                return self.chunks.get(timeout=_POLL_S)
            except queue.Empty:
                continue

    async def rest(self, first: object = None) -> AsyncIterator[bytes]:
        """The chunks from ``first`` (already taken) on; the writer's exception aborts the response."""
        try:
            item = first if first is not None else await anyio.to_thread.run_sync(self.take)
            while item is not _END:
                yield item  # type: ignore[misc]
                item = await anyio.to_thread.run_sync(self.take)
            if self.failure:
                raise self.failure[0]
        finally:
            self.stopped.set()


async def from_writer(write: Callable[[BinaryIO], None]) -> AsyncIterator[bytes]:
    """Run ``write(sink)`` in a thread and yield what it writes; its exception aborts the response."""
    async for chunk in _Producer(write).rest():
        yield chunk


def started_writer(write: Callable[[BinaryIO], None]) -> AsyncIterator[bytes]:
    """``from_writer``, but started at once and waited for until ``write`` wrote its first chunk: an error it
    raises before that (bad input, a catalog failure) is raised here, so the route can still answer it as an
    error instead of a broken stream. Call it from a worker thread (a sync route), never from the event loop."""
    producer = _Producer(write)
    first = producer.take()
    if first is _END:
        producer.stopped.set()
        if producer.failure:
            raise producer.failure[0]
    return producer.rest(first)
