"""Dry runs of the four writes (``service.previews``): their reports, their refusals (the write's own), and the
``[knit] backfill_confirm`` guard of a Plan's apply."""

from __future__ import annotations

import pytest

from knit_provider.core.errors import Conflict, InvalidInput, NotFound
from knit_provider.service import Knit, data, plans, previews, runs

pytestmark = pytest.mark.explain

RAW = "image: x/raw:1\ninputs: [{path: /in, tags: ['type:raw']}]\noutputs: [{path: /out, tags: ['type:mid']}]\n"
MID = "image: x/mid:1\ninputs: [{path: /in, tags: ['type:mid']}]\noutputs: [{path: /out, tags: ['type:end']}]\n"
END = "image: x/end:1\ninputs: [{path: /in, tags: ['type:end']}]\n"


def push_many(knit: Knit, make_dir, n: int, *tags: str) -> list[str]:
    return [data.push_dir(knit, make_dir(), list(tags))["knitId"] for _ in range(n)]


def test_apply_preview_reports_checks_runs_and_downstream(knit: Knit, make_dir) -> None:
    mid = plans.apply(knit, MID)["planId"]
    end = plans.apply(knit, END)["planId"]
    raws = push_many(knit, make_dir, 3, "type:raw")
    report = previews.apply(knit, RAW, sample=2)
    assert report["dryRun"] is True and report["action"] == "plan apply"
    assert report["checks"] == ["the plan is valid", "no equivalent plan exists", "it makes no cycle"]
    assert report["runs"]["count"] == 3 and len(report["runs"]["sample"]) == 2
    assert report["runs"]["byPlan"] == [{"plan": {"planId": "(new plan)", "image": "x/raw:1"}, "count": 3}]
    assert {s["inputs"][0]["knitId"] for s in report["runs"]["sample"]} <= set(raws)
    assert [(d["plan"]["planId"], d["depth"]) for d in report["downstream"]] == [(mid, 1), (end, 2)]
    assert report["plan"]["planId"] == "(new plan)" and report["needsConfirmation"] is False
    assert [p["planId"] for p in plans.find(knit)] == [mid, end], "nothing was written"
    assert runs.find(knit, plan_ids=[mid, end]) == []


def test_previews_refuse_as_the_writes_do(knit: Knit, make_dir) -> None:
    plans.apply(knit, RAW)
    with pytest.raises(Conflict, match="an equivalent plan already exists"):
        previews.apply(knit, RAW)
    with pytest.raises(Conflict, match="cycle"):
        previews.apply(
            knit, "image: x/loop:1\ninputs: [{path: /in, tags: ['k:v']}]\noutputs: [{path: /o, tags: ['k:v']}]\n"
        )
    with pytest.raises(InvalidInput, match="resouces"):
        previews.apply(knit, RAW.replace("image: x/raw:1", "image: x/other:1\nresouces: {cpu: 1}"))
    with pytest.raises(NotFound, match="data not found: nope"):
        previews.tag(knit, "nope", add=["a:b"])
    with pytest.raises(InvalidInput, match="system tag"):
        previews.push(knit, ["knit#id:x"])
    with pytest.raises(NotFound, match="plan not found: nope"):
        previews.set_active(knit, "nope", True)


def test_tag_preview_shows_the_tags_nominations_and_runs(knit: Knit, make_dir) -> None:
    raw = plans.apply(knit, RAW)["planId"]
    (knit_id,) = push_many(knit, make_dir, 1, "type:other")
    report = previews.tag(knit, knit_id, add=["type:raw"], remove_keys=["type"])
    assert "type:raw" in report["data"]["tags"] and "type:other" not in report["data"]["tags"]
    assert [n["plan"]["planId"] for n in report["data"]["nomination"]] == [raw]
    assert report["runs"]["count"] == 1 and report["runs"]["sample"][0]["inputs"] == [
        {"path": "/in", "knitId": knit_id}
    ]
    assert data.show(knit, knit_id)["tags"][-1] == "type:other", "nothing was written"


def test_push_preview_uploads_nothing(knit: Knit, make_dir) -> None:
    plans.apply(knit, RAW)
    report = previews.push(knit, ["type:raw"], names=["a", "b"])
    assert report["runs"]["count"] == 2
    assert [d["knitId"] for d in report["data"]] == ["(new data 1)", "(new data 2)"]
    assert "name:b" in report["data"][1]["tags"] and "knit#id:(new data 2)" in report["data"][1]["tags"]
    assert data.find(knit) == [] and list(knit.store.root.iterdir()) == []


def test_active_preview_names_the_runs_that_would_wait(knit: Knit, make_dir) -> None:
    raw = plans.apply(knit, RAW.replace("outputs:", "active: false\noutputs:"))["planId"]
    plans.apply(knit, MID)
    push_many(knit, make_dir, 2, "type:raw")
    report = previews.set_active(knit, raw, True)
    assert report["changed"]["status"] == "waiting" and report["changed"]["count"] == 2
    assert report["plan"]["active"] is True and [d["depth"] for d in report["downstream"]] == [1]
    assert {r["status"] for r in runs.find(knit, plan_ids=[raw])} == {"deactivated"}, "nothing was written"
    plans.set_active(knit, raw, True)
    assert previews.set_active(knit, raw, True)["changed"]["count"] == 0
    assert previews.set_active(knit, raw, False)["changed"] == {
        "status": "deactivated",
        "count": 2,
        "sample": previews.set_active(knit, raw, False)["changed"]["sample"],
    }


def test_a_large_backfill_needs_confirmation(knit: Knit, make_dir) -> None:
    push_many(knit, make_dir, 5, "type:raw")
    with pytest.raises(Conflict) as refused:
        plans.apply(knit, RAW, backfill_confirm=4)
    assert str(refused.value).startswith(
        "applying this plan would create 5 Runs, more than [knit] backfill_confirm (4): preview them with --dry-run"
    )
    assert plans.find(knit) == [], "nothing was written"
    report = previews.apply(knit, RAW, backfill_confirm=4)
    assert report["needsConfirmation"] is True and report["backfillConfirm"] == 4 and report["runs"]["count"] == 5
    assert previews.apply(knit, RAW, backfill_confirm=5)["needsConfirmation"] is False
    plan_id = plans.apply(knit, RAW, backfill_confirm=4, yes=True)["planId"]
    assert len(runs.find(knit, plan_ids=[plan_id])) == 5


def test_the_limit_comes_from_the_environment_and_zero_means_none(knit: Knit, make_dir, monkeypatch) -> None:
    push_many(knit, make_dir, 3, "type:raw")
    monkeypatch.setenv("KNIT_BACKFILL_CONFIRM", "2")
    with pytest.raises(Conflict, match="would create 3 Runs, more than"):
        plans.apply(knit, RAW)
    assert plans.apply(knit, RAW, backfill_confirm=0)["planId"]
