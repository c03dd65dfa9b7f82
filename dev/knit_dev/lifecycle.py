"""Carrying a Run through its lifecycle by the executor's own functions (``service.execution``), for tests,
benchmarks and demos that have no program to run: what a Run's task does, with a program that has already ended."""

from __future__ import annotations

from knit_provider.core.lifecycle import RunStatus
from knit_provider.service import runs
from knit_provider.service.context import Knit
from knit_provider.service.dispatching import status_of
from knit_provider.service.execution import Assignment, conclude, start_attempt, started


def start(knit: Knit, run_id: str) -> Assignment:
    """waiting/ready -> running, as a Run's task does before its program's first line."""
    attempt = start_attempt(knit, run_id)
    assert isinstance(attempt, Assignment), f"run {run_id} did not start: {attempt}"
    started(knit, run_id)
    return attempt


def finish(knit: Knit, run_id: str, *, exit_code: int = 0, message: str = "") -> dict:
    """The Run's program ended with ``exit_code``: conclude it (starting it first when it still waits), and return
    its JSON. Its outputs are whatever was written into their directories meanwhile."""
    if status_of(knit, run_id) in (RunStatus.WAITING, RunStatus.READY):
        start(knit, run_id)
    conclude(knit, run_id, exit_code=exit_code, message=message)
    return runs.show(knit, run_id)
