"""Run use cases: find, show, lifecycle reports from runners, stop, retry and rm."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from sqlalchemy import select

from knit_provider.catalog import runs as catalog_runs
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.catalog.models import data_t, run_inputs_t, runs_t
from knit_provider.catalog.views import run_details
from knit_provider.core.errors import InvalidInput, NotFound
from knit_provider.core.layout import LOG_FILE
from knit_provider.core.lifecycle import TERMINAL, RunStatus, parse_status
from knit_provider.service.context import Knit
from knit_provider.service.data import time_window


def show(knit: Knit, run_id: str) -> dict:
    with read_tx(knit.engine) as conn:
        found = run_details(conn, [run_id])
    if not found:
        raise NotFound(f"run not found: {run_id}")
    return found[0]


def find(
    knit: Knit,
    *,
    plan_ids: Sequence[str] = (),
    input_ids: Sequence[str] = (),
    output_ids: Sequence[str] = (),
    statuses: Sequence[str] = (),
    since: str | None = None,
    duration: str | None = None,
) -> list[dict]:
    """Runs matching every given kind of filter (repeats of one kind are OR), oldest update first."""
    wanted = [parse_status(s).value for s in statuses]
    since_ms, until_ms = time_window(since, duration)
    query = select(runs_t.c.run_id)
    if plan_ids:
        query = query.where(runs_t.c.plan_id.in_(list(plan_ids)))
    if input_ids:
        query = query.where(
            runs_t.c.run_id.in_(select(run_inputs_t.c.run_id).where(run_inputs_t.c.knit_id.in_(list(input_ids))))
        )
    if output_ids:
        query = query.where(runs_t.c.run_id.in_(select(data_t.c.run_id).where(data_t.c.knit_id.in_(list(output_ids)))))
    if wanted:
        query = query.where(runs_t.c.status.in_(wanted))
    if since_ms is not None:
        query = query.where(runs_t.c.updated_at >= since_ms)
    if until_ms is not None:
        query = query.where(runs_t.c.updated_at < until_ms)
    with read_tx(knit.engine) as conn:
        ids = list(conn.execute(query.order_by(runs_t.c.updated_at, runs_t.c.run_id)).scalars())
        return run_details(conn, ids)


def transition(
    knit: Knit, run_id: str, status: RunStatus | str, *, exit_code: int | None = None, message: str | None = None
) -> dict:
    """A runner's lifecycle report (starting, running, completing, aborting, done, failed)."""
    target = status if isinstance(status, RunStatus) else parse_status(status)
    with write_tx(knit.engine) as conn:
        catalog_runs.transition(conn, run_id, target, exit_code=exit_code, exit_message=message)
    return show(knit, run_id)


def measure_outputs(knit: Knit, run_id: str) -> dict[str, tuple[str, int]]:
    """Checksum and size of each output (and log) Data a Run's program wrote, for ``record_content``."""
    with read_tx(knit.engine) as conn:
        catalog_runs.require_run(conn, run_id)
        produced = catalog_runs.outputs_of(conn, run_id)  # outputs and log
    contents = {}
    for knit_id in produced:
        knit.store.create_empty(knit_id)  # an output the program left untouched is empty Data
        info = knit.store.measure(knit_id)
        contents[knit_id] = (info.checksum, info.size)
    return contents


def finish(knit: Knit, run_id: str, *, exit_code: int, message: str = "") -> dict:
    """A program ended: exit 0 -> completing -> done (outputs nominated), else aborting -> failed."""
    target = RunStatus.COMPLETING if exit_code == 0 else RunStatus.ABORTING
    contents = measure_outputs(knit, run_id)
    with write_tx(knit.engine) as conn:
        catalog_runs.record_content(conn, contents)
        catalog_runs.transition(conn, run_id, target, exit_code=exit_code, exit_message=message)
        catalog_runs.finalize(conn, run_id)
    return show(knit, run_id)


def stop(knit: Knit, run_id: str, *, fail: bool = False) -> dict:
    with write_tx(knit.engine) as conn:
        catalog_runs.stop(conn, run_id, fail=fail)
    return show(knit, run_id)


def read_log(knit: Knit, run_id: str, offset: int = 0) -> tuple[str, int]:
    """The Run's log from byte ``offset`` on, and the offset to continue from (``knit run show --log``)."""
    run = show(knit, run_id)
    if run["log"] is None:
        raise InvalidInput(f"run {run_id} keeps no log: its plan has no 'log' section", field="run")
    knit_id = run["log"]["knitId"]
    if not knit.store.exists(knit_id):
        return "", offset
    path = knit.store.path(knit_id) / LOG_FILE
    if not path.exists():
        return "", offset
    with path.open("rb") as log:
        log.seek(offset)
        chunk = log.read()
    return chunk.decode("utf-8", errors="replace"), offset + len(chunk)


def follow_log(
    knit: Knit, run_id: str, *, follow: bool = False, poll_s: float = 0.5, sleep: Callable[[float], None] = time.sleep
) -> Iterator[str]:
    """The Run's log in chunks (``knit run show --log [-f]``): with ``follow``, until the Run has finished.

    The first chunk (possibly empty) is yielded at once, so a caller learns of a missing Run or log before any
    output; after that only non-empty chunks come.
    """
    chunk, offset = read_log(knit, run_id, 0)
    yield chunk
    while follow and RunStatus(show(knit, run_id)["status"]) not in TERMINAL:
        sleep(poll_s)
        chunk, offset = read_log(knit, run_id, offset)
        if chunk:
            yield chunk
    chunk, offset = read_log(knit, run_id, offset)  # whatever was written while the Run finished
    if chunk:
        yield chunk


def retry(knit: Knit, run_id: str) -> dict:
    """done/failed -> waiting with fresh output Data; refused while anything consumes the old outputs."""
    with write_tx(knit.engine) as conn:
        outcome = catalog_runs.retry(conn, run_id)
    for knit_id in outcome.discarded_data:
        knit.store.delete(knit_id)
    return show(knit, run_id)


def remove(knit: Knit, run_id: str) -> None:
    """``knit run rm``: uploads vanish with their Data; other Runs become invalidated tombstones."""
    with write_tx(knit.engine) as conn:
        outcome = catalog_runs.remove(conn, run_id)
    for knit_id in outcome.discarded_data:
        knit.store.delete(knit_id)
