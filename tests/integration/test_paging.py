"""Keyset pages of Data, Runs and Plans on both backends: newest first, every item exactly once, stable while new
Data arrive and Runs change status; whole lists streamed from one snapshot."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from knit_provider.catalog import paging as catalog_paging
from knit_provider.catalog.data import register_upload
from knit_provider.catalog.engine import write_tx
from knit_provider.core.errors import InvalidInput
from knit_provider.core.paging import Cursor, Key
from knit_provider.core.tags import Tag
from knit_provider.service import Knit, data, dispatching, plans, runs

pytestmark = pytest.mark.scale


def register(knit: Knit, count: int, *tags: str) -> list[str]:
    """``count`` Data in one transaction (so they share a creation time: the id breaks the tie)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    parsed = [Tag(*t.split(":", 1)) for t in tags]
    with write_tx(knit.engine) as conn:
        for knit_id in ids:
            register_upload(conn, knit_id, parsed, checksum=None, size=None)
    return ids


def walk(find_page, limit: int, **filters) -> list[list[dict]]:
    """Every page from the newest on, following ``next``."""
    pages, cursor = [], None
    while True:
        page = find_page(limit=limit, cursor=cursor, **filters)
        pages.append(page.items)
        if page.next is None:
            return pages
        cursor = page.next


def test_data_pages_are_the_whole_list_newest_first_each_item_once(knit: Knit) -> None:
    for batch in range(4):  # four creation times, ten Data sharing each
        register(knit, 10, "kind:paged", f"batch:{batch}")
    register(knit, 3, "kind:other")
    oldest_first = [d["knitId"] for d in data.find(knit, ["kind:paged"])]
    pages = walk(lambda **kw: data.find_page(knit, ["kind:paged"], **kw), 7)
    assert [len(p) for p in pages] == [7, 7, 7, 7, 7, 5]
    seen = [d["knitId"] for page in pages for d in page]
    assert seen == oldest_first[::-1]
    assert pages[0][0] == data.find(knit, ["kind:paged"])[-1], "a page item is the same JSON as find's"


def test_prev_leads_back_to_the_page_before(knit: Knit) -> None:
    register(knit, 23, "kind:paged")
    first = data.find_page(knit, limit=10)
    assert first.prev is None
    second = data.find_page(knit, limit=10, cursor=first.next)
    third = data.find_page(knit, limit=10, cursor=second.next)
    assert len(third.items) == 3 and third.next is None
    back = data.find_page(knit, limit=10, cursor=third.prev)
    assert back.items == second.items
    again = data.find_page(knit, limit=10, cursor=back.prev)
    assert again.items == first.items and again.prev is None, "the newest page has no newer neighbour"
    assert again.next == first.next


def test_a_page_boundary_never_skips_or_repeats_while_new_data_arrive(knit: Knit) -> None:
    initial = set(register(knit, 60, "kind:paged"))
    stop = threading.Event()
    arrived: list[str] = []

    def writer() -> None:
        while not stop.is_set():
            arrived.extend(register(knit, 3, "kind:paged"))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen: list[str] = []
        cursor = None
        while True:
            page = data.find_page(knit, ["kind:paged"], limit=9, cursor=cursor)
            seen += [d["knitId"] for d in page.items]
            if page.next is None:
                break
            cursor = page.next
            time.sleep(0.02)  # let the writer commit between pages
    finally:
        stop.set()
        thread.join()
    assert arrived, "new Data arrived while the pages were read"
    assert len(seen) == len(set(seen)), "no item repeated"
    assert initial <= set(seen), "no item skipped"


def run_plan(knit: Knit) -> str:
    spec = (
        "image: bench/paged:v1\ninputs: [{path: /in, tags: ['kind:run-input']}]\n"
        "outputs: [{path: /out, tags: ['kind:run-output']}]\n"
    )
    return plans.apply(knit, spec)["planId"]


def test_run_pages_stay_stable_while_runs_change_status(knit: Knit) -> None:
    plan_id = run_plan(knit)
    for _ in range(3):
        register(knit, 10, "kind:run-input")  # ten Runs each time
    all_runs = {r["runId"] for r in runs.find(knit, plan_ids=[plan_id])}
    assert len(all_runs) == 30
    seen: list[str] = []
    moved: set[str] = set()
    cursor = None
    while True:
        page = runs.find_page(knit, plan_ids=[plan_id], limit=8, cursor=cursor)
        seen += [r["runId"] for r in page.items]
        # Runs not seen yet change status (their update time moves past every Run seen)
        for run_id in sorted(all_runs - set(seen) - moved)[:5]:
            dispatching.mark_dispatched(knit, run_id)
            moved.add(run_id)
        if page.next is None:
            break
        cursor = page.next
    assert len(seen) == len(set(seen)) == 30 and set(seen) == all_runs


def test_run_pages_are_newest_created_first_and_filtered(knit: Knit) -> None:
    plan_id = run_plan(knit)
    first = register(knit, 2, "kind:run-input")
    time.sleep(0.005)
    later = register(knit, 2, "kind:run-input")
    page = runs.find_page(knit, plan_ids=[plan_id], limit=100)
    inputs = [r["inputs"][0]["knitId"] for r in page.items]
    assert set(inputs[:2]) == set(later) and set(inputs[2:]) == set(first)
    waiting = runs.find_page(knit, plan_ids=[plan_id], statuses=["waiting"], limit=3, count_up_to=10)
    assert len(waiting.items) == 3 and waiting.total == 4 and not waiting.total_capped
    capped = runs.find_page(knit, limit=1, count_up_to=2)
    assert capped.total == 2 and capped.total_capped, "4 uploads and 4 Runs: more than 2"


def test_plan_pages_newest_first(knit: Knit) -> None:
    ids = []
    for n in range(5):
        spec = (
            f"image: bench/plan{n}:v1\ninputs: [{{path: /in, tags: ['p:{n}']}}]\n"
            f"outputs: [{{path: /out, tags: ['q:{n}']}}]\n"
        )
        ids.append(plans.apply(knit, spec)["planId"])
    pages = walk(lambda **kw: plans.find_page(knit, **kw), 2)
    assert [p["planId"] for page in pages for p in page] == ids[::-1]
    assert [p["planId"] for p in plans.find_page(knit, in_tags=["p:3"]).items] == [ids[3]]


def test_the_whole_list_streams_from_one_snapshot(knit: Knit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_paging, "BATCH", 4)
    plan_id = run_plan(knit)
    register(knit, 10, "kind:run-input")
    before_runs = runs.find(knit, plan_ids=[plan_id])
    before_data = data.find(knit, ["kind:run-input"])
    run_stream = runs.find_iter(knit, plan_ids=[plan_id])
    data_stream = data.find_iter(knit, ["kind:run-input"])
    got_runs, got_data = [next(run_stream)], [next(data_stream)]
    for run in before_runs[:6]:  # these move to the end of the update order
        dispatching.mark_dispatched(knit, run["runId"])
    register(knit, 5, "kind:run-input")
    got_runs += list(run_stream)
    got_data += list(data_stream)
    assert got_runs == before_runs, "the list as it stood when the stream started: no Run twice, none missed"
    assert got_data == before_data


def test_bad_arguments_fail_at_the_call_with_one_line(knit: Knit) -> None:
    with pytest.raises(InvalidInput, match="^cursor: not a cursor of the data list"):
        data.find_page(knit, cursor="garbage!")
    run_cursor = Cursor("run", "older", Key(1, "x")).encode()
    with pytest.raises(InvalidInput, match="^cursor: not a cursor of the data list"):
        data.find_page(knit, cursor=run_cursor)
    with pytest.raises(InvalidInput, match="^limit: must be from 1 to 1000"):
        runs.find_page(knit, limit=0)
    with pytest.raises(InvalidInput, match="transient"):
        data.find_iter(knit, transient="maybe")  # before anything is read
    with pytest.raises(InvalidInput):
        runs.find_iter(knit, statuses=["sleeping"])
