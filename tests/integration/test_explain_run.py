"""``knit explain run``: the cause recorded when a Run is created (each event, with who), the changes made by hand,
and Runs of a catalog older than causes (migration 0008), on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from knit_dev import lifecycle
from sqlalchemy import text

from knit_provider.catalog.engine import make_engine, write_tx
from knit_provider.catalog.models import UPLOAD_PLAN_ID
from knit_provider.catalog.schema import alembic_config, upgrade
from knit_provider.service import Knit, data, explain, plans, runs

pytestmark = pytest.mark.explain

ME = "tester@box (knit CLI)"
MAKE = "image: x/make:1\ninputs: [{path: /in, tags: ['type:raw']}]\noutputs: [{path: /out, tags: ['type:mid']}]\n"
USE = "image: x/use:1\ninputs: [{path: /in, tags: ['type:mid']}]\n"


@pytest.fixture
def me(knit: Knit) -> Knit:
    knit.actor = ME
    return knit


def cause_of(knit: Knit, run_id: str) -> dict:
    return explain.run(knit, run_id)["cause"]


def only_run(knit: Knit, plan_id: str) -> dict:
    (run,) = runs.find(knit, plan_ids=[plan_id])
    return run


def test_an_upload_and_the_runs_it_causes(me: Knit, make_dir) -> None:
    make = plans.apply(me, MAKE)["planId"]
    pushed = data.push_dir(me, make_dir(), ["type:raw"])
    upload_run = pushed["upstream"]["run"]["runId"]
    assert cause_of(me, upload_run) | {"at": None} == {
        "event": "upload", "ref": pushed["knitId"], "actor": ME, "at": None,
        "message": f"an upload (knit data push) of Data {pushed['knitId']} by {ME} at {cause_of(me, upload_run)['at']}",
    }  # fmt: skip
    caused = cause_of(me, only_run(me, make)["runId"])
    assert (caused["event"], caused["ref"], caused["actor"]) == ("upload", pushed["knitId"], ME)


def test_a_tag_edit(me: Knit, make_dir) -> None:
    make = plans.apply(me, MAKE)["planId"]
    knit_id = data.push_dir(me, make_dir(), ["type:other"])["knitId"]
    me.actor = "admin (Airflow user)"
    data.tag(me, knit_id, add=["type:raw"])
    caused = cause_of(me, only_run(me, make)["runId"])
    assert (caused["event"], caused["ref"], caused["actor"]) == ("tag-edit", knit_id, "admin (Airflow user)")
    assert f"the tags of Data {knit_id} were edited by admin (Airflow user)" in caused["message"]


def test_a_run_finishing_done(me: Knit, make_dir) -> None:
    make = plans.apply(me, MAKE)["planId"]
    use = plans.apply(me, USE)["planId"]
    data.push_dir(me, make_dir(), ["type:raw"])
    first = only_run(me, make)["runId"]
    runner = Knit(engine=me.engine, store=me.store, home=me.home)  # a Run's task: no actor
    lifecycle.finish(runner, first, exit_code=0)
    caused = cause_of(me, only_run(me, use)["runId"])
    assert (caused["event"], caused["ref"], caused["actor"]) == ("run-done", first, None)
    assert caused["message"].startswith(f"Run {first} finished done at ")


def test_a_plan_applied_backfills(me: Knit, make_dir) -> None:
    data.push_dir(me, make_dir(), ["type:raw"])
    make = plans.apply(me, MAKE)["planId"]
    explained = explain.run(me, only_run(me, make)["runId"])
    assert (explained["cause"]["event"], explained["cause"]["ref"], explained["cause"]["actor"]) == (
        "plan-apply",
        make,
        ME,
    )
    assert "a backfill" in explained["cause"]["message"]
    assert explained["state"]["message"].startswith("it waits for its DagRun in DAG knit_plan__make-1-")


def test_changes_made_by_hand_are_recorded_with_who(me: Knit, make_dir) -> None:
    make = plans.apply(me, MAKE)["planId"]
    data.push_dir(me, make_dir(), ["type:raw"])
    run_id = only_run(me, make)["runId"]
    assert explain.run(me, run_id)["lastAction"] is None
    plans.set_active(me, make, False)
    action = explain.run(me, run_id)["lastAction"]
    assert (action["action"], action["actor"]) == ("deactivate", ME)
    assert explain.run(me, run_id)["state"]["message"].startswith("its Plan is inactive")
    me.actor = "bob (Airflow user)"
    plans.set_active(me, make, True)
    assert explain.run(me, run_id)["lastAction"]["action"] == "activate"
    runs.stop(me, run_id, fail=True)
    explained = explain.run(me, run_id)
    assert explained["lastAction"]["message"].startswith("aborted (knit run stop --fail) by bob (Airflow user) at ")
    assert explained["state"]["exit"] == {"code": 253, "message": "aborted by user"}
    assert "with exit 253: aborted by user (a user aborted it" in explained["state"]["message"]
    runs.retry(me, run_id)
    assert explain.run(me, run_id)["lastAction"]["action"] == "retry"
    runs.remove(me, run_id)
    explained = explain.run(me, run_id)
    assert explained["lastAction"]["action"] == "rm" and "a tombstone" in explained["state"]["message"]
    assert explained["cause"]["event"] == "upload", "the cause of its creation stays"


def test_runs_from_before_causes_were_kept(tmp_path: Path, backend: str, catalog_url: str) -> None:
    """A catalog at 0004 with a Run, migrated: the Run's cause is NULL, and the explanation says so."""
    engine = make_engine(catalog_url)
    try:
        with write_tx(engine) as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
            conn.execute(
                text(
                    "INSERT INTO knit_runs (run_id, plan_id, status, combo_key, created_at, updated_at, finished_at) "
                    "VALUES ('old-run', :plan, 'done', 'old-run', 1700000000000, 1700000000000, 1700000000000)"
                ),
                {"plan": UPLOAD_PLAN_ID},
            )
        upgrade(engine)
    finally:
        engine.dispose()
    with Knit.open(url=catalog_url, home=tmp_path / "home") as knit:
        cause = explain.run(knit, "old-run")["cause"]
    assert cause["event"] is None and cause["actor"] is None
    assert "recorded before causes were kept" in cause["message"]


def test_an_unknown_run(knit: Knit) -> None:
    from knit_provider.core.errors import NotFound

    with pytest.raises(NotFound, match="run not found: nope"):
        explain.run(knit, "nope")
