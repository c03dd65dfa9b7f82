"""``--dry-run`` on plan apply, data tag, plan active and data push, and ``plan apply --yes``, in both modes: the
report on stdout, one summary line on stderr, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_remote import LOCAL_ONLY

pytestmark = pytest.mark.explain

RAW = "image: x/raw:1\ninputs: [{path: /in, tags: ['type:raw']}]\noutputs: [{path: /out, tags: ['type:mid']}]\n"
MID = "image: x/mid:1\ninputs: [{path: /in, tags: ['type:mid']}]\n"


def test_plan_apply_dry_run(cli, folder, workdir: Path) -> None:
    (workdir / "raw.yaml").write_text(RAW)
    (workdir / "mid.yaml").write_text(MID)
    mid = cli("plan", "apply", "mid.yaml").json()["planId"]
    folder("d")
    knit_id = cli("data", "push", "-t", "type:raw", "d").json()["knitId"]
    dry = cli("plan", "apply", "--dry-run", "raw.yaml")
    assert dry.code == 0, dry.stderr
    report = dry.json()
    assert report["runs"]["count"] == 1 and report["runs"]["sample"][0]["inputs"] == [
        {"path": "/in", "knitId": knit_id}
    ]
    assert report["downstream"] == [{"plan": {"planId": mid, "image": "x/mid:1"}, "depth": 1}]
    assert dry.stderr.strip() == (
        "knit: dry run (plan apply), nothing was written: it would create 1 Run(s) (x/raw:1: 1); "
        "their outputs would reach 1 Plan(s) downstream"
    )
    assert [p["planId"] for p in cli("plan", "find").json()] == [mid]
    applied = cli("plan", "apply", "--yes", "raw.yaml")
    assert applied.code == 0, applied.stderr
    assert len(cli("run", "find", "-p", applied.json()["planId"]).json()) == 1
    refused = cli("plan", "apply", "--dry-run", "raw.yaml")
    assert refused.code == 1 and "an equivalent plan already exists" in refused.stderr and refused.stdout == ""


def test_data_tag_push_and_plan_active_dry_runs(cli, folder, workdir: Path) -> None:
    (workdir / "raw.yaml").write_text(RAW.replace("outputs:", "active: false\noutputs:"))
    plan_id = cli("plan", "apply", "raw.yaml").json()["planId"]
    folder("d")
    knit_id = cli("data", "push", "-t", "type:other", "d").json()["knitId"]
    tag = cli("data", "tag", "--dry-run", "--add", "type:raw", knit_id)
    assert tag.code == 0 and tag.json()["runs"]["count"] == 1 and "type:raw" in tag.json()["data"]["tags"]
    assert "type:raw" not in cli("data", "find", "-t", f"knit#id:{knit_id}").json()[0]["tags"]
    push = cli("data", "push", "--dry-run", "-n", "-t", "type:raw", "d")
    assert push.code == 0, push.stderr
    assert push.json()["data"][0]["knitId"] == "(new data 1)" and "name:d" in push.json()["data"][0]["tags"]
    assert "it would create 1 Run(s) (x/raw:1: 1)" in push.stderr
    assert len(cli("data", "find").json()) == 1, "nothing uploaded"
    cli("data", "tag", "--add", "type:raw", knit_id)
    active = cli("plan", "active", "yes", "--dry-run", plan_id)
    assert active.code == 0 and active.json()["changed"]["count"] == 1, active.stderr
    assert "and make 1 Run(s) waiting" in active.stderr
    assert cli("plan", "show", plan_id).json()["active"] is False


@LOCAL_ONLY
def test_a_large_backfill_is_refused_without_yes(cli, folder, workdir: Path, monkeypatch) -> None:
    monkeypatch.setenv("KNIT_BACKFILL_CONFIRM", "1")
    (workdir / "raw.yaml").write_text(RAW)
    folder("a")
    folder("b")
    cli("data", "push", "-t", "type:raw", "a", "b")
    refused = cli("plan", "apply", "raw.yaml")
    assert refused.code == 1 and refused.stderr.strip() == (
        "knit: applying this plan would create 2 Runs, more than [knit] backfill_confirm (1): preview them with "
        "--dry-run, then apply with --yes (REST: yes=true) if that is what you want"
    )
    assert cli("plan", "find").json() == []
    assert "applying needs --yes" in cli("plan", "apply", "--dry-run", "raw.yaml").stderr
    assert cli("plan", "apply", "--yes", "raw.yaml").code == 0
