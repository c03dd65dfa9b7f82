"""Asking Airflow from a trigger: a connection, DagRun states, anything the Task SDK fetches from its supervisor.

In a triggerer every trigger shares one channel to the supervisor: each request is written, then its answer is
read back in order. A request abandoned between the two (its trigger cancelled because it fired, or because its
task was cleared) leaves its answer for the next reader. Airflow 3.1's trigger runner then dies of "Response read
out of order", taking every trigger of the triggerer with it (apache/airflow#64620): the generator stops waking,
and Runs wait forever. Airflow 3.2 and later read answers by id; being careful costs nothing there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from asgiref.sync import sync_to_async

T = TypeVar("T")


async def ask_airflow(call: Callable[..., T], /, *args: object, **kwargs: object) -> T:
    """``call(*args, **kwargs)`` from a trigger's coroutine, for a function that asks Airflow through the Task SDK.

    It runs in asgiref's thread (``sync_to_async``), so its request travels through the triggerer's event loop, not a
    loop of its own; and shielded, so a trigger cancelled meanwhile lets the request read its own answer. The
    trigger still sees the cancellation at once."""
    asking = asyncio.ensure_future(sync_to_async(call)(*args, **kwargs))
    try:
        return await asyncio.shield(asking)
    except asyncio.CancelledError:
        asking.add_done_callback(_forget)  # the answer nobody waits for any more: read, then dropped
        raise


def _forget(done: asyncio.Future) -> None:
    if not done.cancelled():
        done.exception()  # retrieved, so asyncio does not log it as never retrieved
