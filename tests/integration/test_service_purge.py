"""``knit data purge`` (Knitfab 2.0) on a real catalog, SQLite and PostgreSQL: the bytes go, the Data stays.

Purged Data carry ``knit#transient:purged``, are never nominated again, cannot be read, block the retry of the Runs
that used them; purge waits for the Runs that make or read the Data and for downloads; it is recorded before the
bytes are deleted, so a crash in between leaves only bytes that the doctor or a second purge removes.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from knit_dev import lifecycle

from knit_provider.catalog import purge as catalog_purge
from knit_provider.catalog.engine import write_tx
from knit_provider.core.errors import Conflict, Gone, NotFound
from knit_provider.core.timefmt import now_ms
from knit_provider.service import Knit, data, doctor, graphs, plans, runs
from knit_provider.service.reading import reading

pytestmark = pytest.mark.compat

PURGED = "knit#transient:purged"
ONE_INPUT = "image: x/y:1\ninputs: [{path: /in/a, tags: ['type:raw']}]\noutputs: [{path: /out, tags: ['type:out']}]\n"


def finish_done(knit: Knit, run_id: str) -> None:
    """Play the runner: the Run goes through its lifecycle and ends done."""
    lifecycle.finish(knit, run_id, exit_code=0)


def test_purge_deletes_the_bytes_and_keeps_tags_run_and_lineage(knit: Knit, make_dir) -> None:
    pushed = data.push_dir(knit, make_dir("d", {"a.txt": "alpha"}), ["type:raw", "k:v"])
    knit_id = pushed["knitId"]
    purged = data.purge(knit, knit_id)
    assert PURGED in purged["tags"] and {"type:raw", "k:v", f"knit#id:{knit_id}"} <= set(purged["tags"])
    assert purged["upstream"] == pushed["upstream"], "its Run and lineage stay"
    assert not knit.store.exists(knit_id) and not (knit.store.root / knit_id).exists()
    assert data.show(knit, knit_id) == purged
    assert "<B>Data (purged)</B>" in graphs.lineage(knit, knit_id).to_dot(), "lineage shows it, greyed"


def test_a_purged_data_is_never_nominated_again(knit: Knit, make_dir) -> None:
    two = plans.apply(
        knit, "image: x/two:1\ninputs: [{path: /in/a, tags: ['type:raw']}, {path: /in/b, tags: ['type:other']}]\n"
    )
    kept = data.push_dir(knit, make_dir("kept"), ["type:raw"])["knitId"]
    gone_id = data.push_dir(knit, make_dir("gone"), ["type:raw"])["knitId"]
    assert any(n["plan"]["planId"] == two["planId"] for n in data.show(knit, gone_id)["nomination"])
    data.purge(knit, gone_id)
    assert data.show(knit, gone_id)["nomination"] == []
    data.push_dir(knit, make_dir("other"), ["type:other"])
    assert sorted(r["inputs"][0]["knitId"] for r in runs.find(knit, plan_ids=[two["planId"]])) == [kept]
    later = plans.apply(knit, "image: x/later:1\ninputs: [{path: /in/a, tags: ['type:raw']}]\n")  # a backfill
    assert [r["inputs"][0]["knitId"] for r in runs.find(knit, plan_ids=[later["planId"]])] == [kept]
    data.tag(knit, gone_id, add=["fresh:yes"])  # a tag edit renominates: still not the purged one
    newest = plans.apply(knit, "image: x/newest:1\ninputs: [{path: /in/a, tags: ['fresh:yes']}]\n")
    assert runs.find(knit, plan_ids=[newest["planId"]]) == []


def test_a_purged_data_cannot_be_read(knit: Knit, make_dir, tmp_path: Path) -> None:
    knit_id = data.push_dir(knit, make_dir())["knitId"]
    data.purge(knit, knit_id)
    with pytest.raises(Gone, match=f"data {knit_id} was purged"):
        data.export_tar(knit, knit_id, io.BytesIO())
    with pytest.raises(Gone, match=knit_id):
        data.extract(knit, knit_id, tmp_path / "out")
    assert not (tmp_path / "out" / knit_id).exists()


def test_runs_that_used_a_purged_data_cannot_be_retried(knit: Knit, make_dir) -> None:
    plan = plans.apply(knit, ONE_INPUT)
    knit_id = data.push_dir(knit, make_dir(), ["type:raw"])["knitId"]
    (run,) = runs.find(knit, plan_ids=[plan["planId"]])
    finish_done(knit, run["runId"])
    data.purge(knit, knit_id)
    with pytest.raises(Conflict, match=f"cannot retry run {run['runId']}: its input data {knit_id} was purged"):
        runs.retry(knit, run["runId"])
    assert runs.show(knit, run["runId"])["status"] == "done"


def test_purge_waits_for_the_runs_that_make_or_use_the_data(knit: Knit, make_dir) -> None:
    plan = plans.apply(knit, ONE_INPUT)
    knit_id = data.push_dir(knit, make_dir(), ["type:raw"])["knitId"]
    (run,) = runs.find(knit, plan_ids=[plan["planId"]])
    with pytest.raises(Conflict, match=f"run {run['runId']} uses it and has not finished \\(status waiting\\)"):
        data.purge(knit, knit_id)
    output = run["outputs"][0]["knitId"]
    with pytest.raises(Conflict, match=f"the run that makes it, {run['runId']}, has not finished"):
        data.purge(knit, output)
    finish_done(knit, run["runId"])
    assert PURGED in data.purge(knit, knit_id)["tags"]
    assert PURGED in data.purge(knit, output)["tags"]


def test_purge_waits_for_downloads_and_a_crashed_one_only_until_its_lease_ends(knit: Knit, make_dir) -> None:
    knit_id = data.push_dir(knit, make_dir())["knitId"]
    with reading(knit, knit_id), pytest.raises(Conflict, match="it is being downloaded"):
        data.purge(knit, knit_id)
    with write_tx(knit.engine) as conn:  # a download that crashed: its lease is never renewed nor ended
        catalog_purge.start_read(conn, knit_id, now_ms(), ttl_ms=300)
    with pytest.raises(Conflict, match="being downloaded"):
        data.purge(knit, knit_id)
    time.sleep(0.4)
    assert PURGED in data.purge(knit, knit_id)["tags"]


def test_purging_again_changes_nothing(knit: Knit, make_dir) -> None:
    knit_id = data.push_dir(knit, make_dir())["knitId"]
    first = data.purge(knit, knit_id)
    assert data.purge(knit, knit_id) == first
    with pytest.raises(NotFound, match="data not found: nope"):
        data.purge(knit, "nope")


def test_a_purge_cut_short_leaves_only_bytes_that_the_doctor_or_a_second_purge_removes(knit: Knit, make_dir) -> None:
    """A crash between the commit and the deletion: the catalog already says purged, the bytes are still there."""
    first, second = (data.push_dir(knit, make_dir(n))["knitId"] for n in ("one", "two"))
    for knit_id in (first, second):
        with write_tx(knit.engine) as conn:
            catalog_purge.mark_purged(conn, knit_id, now_ms())  # the purge's first step, then "kill -9"
        assert knit.store.exists(knit_id)
        with pytest.raises(Gone):
            data.export_tar(knit, knit_id, io.BytesIO())
    data.purge(knit, second)
    assert not knit.store.exists(second), "purging again removes the bytes"
    past = time.time() - 7200
    os.utime(knit.store.root / first, (past, past))
    report = doctor.doctor(knit, fix=True)
    assert [(f["kind"], f["path"], f["removed"]) for f in report["findings"]] == [("purged", first, True)]
    assert not knit.store.exists(first) and PURGED in data.show(knit, first)["tags"]


def test_find_knows_purged(knit: Knit, make_dir) -> None:
    kept = data.push_dir(knit, make_dir("kept"), ["k:v"])["knitId"]
    purged = data.push_dir(knit, make_dir("purged"), ["k:v"])["knitId"]
    data.purge(knit, purged)

    def ids(**options) -> list[str]:
        return [d["knitId"] for d in data.find(knit, ["k:v"], **options)]

    assert ids(transient="purged") == [purged]
    assert ids(transient="yes") == [purged], "yes includes purged Data"
    assert ids(transient="no") == [kept]
    assert ids() == [kept, purged]
    assert [d["knitId"] for d in data.find(knit, [PURGED])] == [purged]
