"""Run use cases: find, show, lifecycle reports from runners, stop, retry and rm."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from knit_provider.catalog import paging
from knit_provider.catalog import runs as catalog_runs
from knit_provider.catalog.engine import read_tx
from knit_provider.catalog.run_find import RunQuery, run_id_batches, run_page_keys, run_query
from knit_provider.catalog.views import run_details
from knit_provider.core.errors import InvalidInput, NotFound
from knit_provider.core.layout import LOG_FILE
from knit_provider.core.lifecycle import TERMINAL, RunStatus, parse_status_filter
from knit_provider.core.paging import Page, check_limit, neighbours, parse_cursor
from knit_provider.core.timefmt import time_window
from knit_provider.service.context import Knit


def show(knit: Knit, run_id: str) -> dict:
    with read_tx(knit.engine) as conn:
        found = run_details(conn, [run_id])
    if not found:
        raise NotFound(f"run not found: {run_id}")
    return found[0]


def _run_query(
    plan_ids: Sequence[str],
    input_ids: Sequence[str],
    output_ids: Sequence[str],
    statuses: Sequence[str],
    since: str | None,
    duration: str | None,
) -> RunQuery:
    """``knit run find``'s filters, checked, as one query (repeats of one kind are OR, kinds AND)."""
    wanted = [parse_status_filter(s).value for s in statuses]
    since_ms, until_ms = time_window(since, duration)
    return run_query(
        plan_ids=plan_ids, input_ids=input_ids, output_ids=output_ids, statuses=wanted, since_ms=since_ms,
        until_ms=until_ms,
    )  # fmt: skip


def find_iter(
    knit: Knit,
    *,
    plan_ids: Sequence[str] = (),
    input_ids: Sequence[str] = (),
    output_ids: Sequence[str] = (),
    statuses: Sequence[str] = (),
    since: str | None = None,
    duration: str | None = None,
) -> Iterator[dict]:
    """``knit run find`` as a stream: every match, oldest update first (Knitfab's order), read in batches from one
    snapshot (a Run changing status meanwhile is neither repeated nor missed). Bad filters fail at the call."""
    query = _run_query(plan_ids, input_ids, output_ids, statuses, since, duration)

    def stream() -> Iterator[dict]:
        with paging.snapshot_tx(knit.engine) as conn:
            for ids in run_id_batches(conn, query):
                yield from run_details(conn, ids)

    return stream()


def find(knit: Knit, **filters: Any) -> list[dict]:
    """Runs matching every given kind of filter (repeats of one kind are OR), oldest update first: ``find_iter``'s
    filters, read whole (as the remote client's ``find``)."""
    return list(find_iter(knit, **filters))


def find_page(
    knit: Knit,
    *,
    plan_ids: Sequence[str] = (),
    input_ids: Sequence[str] = (),
    output_ids: Sequence[str] = (),
    statuses: Sequence[str] = (),
    since: str | None = None,
    duration: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    count_up_to: int = 0,
) -> Page:
    """One page of ``find``'s matches, newest first by creation (a key that never changes, so pages stay stable
    while Runs change status), from ``cursor`` on; with ``count_up_to``, all matches counted up to that many."""
    query = _run_query(plan_ids, input_ids, output_ids, statuses, since, duration)
    size = check_limit(limit)
    position = parse_cursor(cursor, "run")
    with read_tx(knit.engine) as conn:
        keys, more = run_page_keys(conn, query, limit=size, cursor=position)
        items = run_details(conn, [k.ident for k in keys])
        total, capped = (None, False)
        if count_up_to:
            total, capped = paging.count_capped(conn, query, count_up_to)
    older, newer = neighbours("run", keys, more, position)
    return Page(items, next=older, prev=newer, total=total, total_capped=capped)


def stop(knit: Knit, run_id: str, *, fail: bool = False) -> dict:
    with knit.write() as conn:
        created = catalog_runs.stop(conn, run_id, fail=fail)
    knit.runs_waiting(created)
    return show(knit, run_id)


def read_log(knit: Knit, run_id: str, offset: int = 0) -> tuple[str, int]:
    """The Run's log from byte ``offset`` on, and the offset to continue from (``knit run show --log``)."""
    run = show(knit, run_id)
    if run["log"] is None:
        raise InvalidInput(f"run {run_id} keeps no log: its plan has no 'log' section", field="run")
    chunk = knit.store.read_file(run["log"]["knitId"], LOG_FILE, offset)
    return chunk.decode("utf-8", errors="replace"), offset + len(chunk)


def log_size(knit: Knit, run: dict) -> int:
    """The bytes of a Run's log so far (0 when its Plan keeps none), e.g. to show its tail."""
    return knit.store.file_size(run["log"]["knitId"], LOG_FILE) if run["log"] is not None else 0


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
    with knit.write() as conn:
        outcome = catalog_runs.retry(conn, run_id)
    for knit_id in outcome.discarded_data:
        knit.store.delete(knit_id)
    knit.runs_waiting([run_id])
    return show(knit, run_id)


def remove(knit: Knit, run_id: str) -> None:
    """``knit run rm``: uploads vanish with their Data; other Runs become invalidated tombstones."""
    with knit.write() as conn:
        outcome = catalog_runs.remove(conn, run_id)
    for knit_id in outcome.discarded_data:
        knit.store.delete(knit_id)
