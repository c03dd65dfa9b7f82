"""Retention on a real catalog and store (SQLite and PostgreSQL): ``purge_where`` (dry and real), never an input
of an unfinished Run (whatever happens between the choice and the purge), exactly N kept per group, and the
declared policies with their reports."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from knit_provider.core.errors import InvalidInput
from knit_provider.core.purged import is_purged
from knit_provider.service import Knit, data, plans, retention, runs

pytestmark = pytest.mark.explain

USE = "image: x/use:1\ninputs: [{path: /in, tags: ['type:model']}]\n"


def push(knit: Knit, make_dir, *tags: str, content: str = "x") -> str:
    return data.push_dir(knit, make_dir("d", {"f.txt": content}), list(tags))["knitId"]


def purged_ids(knit: Knit) -> set[str]:
    return {d["knitId"] for d in data.find(knit, transient="purged")}


def test_dry_run_lists_what_would_go_and_the_bytes(knit: Knit, make_dir) -> None:
    old = [push(knit, make_dir, "type:model", "project:a", content="x" * 100) for _ in range(3)]
    newest = push(knit, make_dir, "type:model", "project:a", content="y" * 7)
    report = retention.purge_where(knit, retention.selection(tags=["type:model"], keep_last=1), dry_run=True)
    assert report["dryRun"] is True and report["count"] == 3 and report["bytes"] == 300
    assert [d["knitId"] for d in report["data"]] == old and report["keptNewest"] == 1
    assert report["population"] == 4 and report["protected"] == [] and report["skipped"] == []
    assert purged_ids(knit) == set() and knit.store.exists(old[0]), "nothing purged"
    real = retention.purge_where(knit, retention.selection(tags=["type:model"], keep_last=1))
    assert real["count"] == 3 and real["bytes"] == 300 and purged_ids(knit) == set(old)
    assert not any(knit.store.exists(k) for k in old) and knit.store.exists(newest)
    assert retention.purge_where(knit, retention.selection(tags=["type:model"], keep_last=1))["count"] == 0


def test_inputs_of_unfinished_runs_are_never_purged(knit: Knit, make_dir) -> None:
    used = push(knit, make_dir, "type:model")
    plan_id = plans.apply(knit, USE)["planId"]  # a waiting Run uses it
    free = push(knit, make_dir, "type:other")
    report = retention.purge_where(knit, retention.selection(older_than="0s"))
    (run,) = runs.find(knit, plan_ids=[plan_id])
    assert report["protected"] == [
        {"knitId": used, "reason": f"run {run['runId']} uses it and has not finished (status waiting)"}
    ]
    assert purged_ids(knit) == {free} and knit.store.exists(used)


def test_a_run_starting_to_use_a_data_after_the_choice_saves_it(knit: Knit, make_dir, monkeypatch) -> None:
    """Purge's own rule checks each Data again in the write transaction: a Run created in between wins."""
    knit_id = push(knit, make_dir, "type:model")
    real_choose = retention.choose

    def choose_then_use(*args, **kwargs):
        chosen = real_choose(*args, **kwargs)
        plans.apply(knit, USE)  # another writer: a Run now uses the chosen Data
        return chosen

    monkeypatch.setattr(retention, "choose", choose_then_use)
    report = retention.purge_where(knit, retention.selection(tags=["type:model"]))
    assert report["count"] == 0 and [s["knitId"] for s in report["skipped"]] == [knit_id]
    assert "uses it and has not finished" in report["skipped"][0]["reason"]
    assert purged_ids(knit) == set() and knit.store.exists(knit_id)


def test_transient_and_superseded(knit: Knit, make_dir) -> None:
    make = "image: x/make:1\ninputs: [{path: /in, tags: ['type:raw']}]\noutputs: [{path: /out, tags: ['type:mid']}]\n"
    make_id = plans.apply(knit, make)["planId"]
    raw = push(knit, make_dir, "type:raw")
    (run,) = runs.find(knit, plan_ids=[make_id])
    failed_out = run["outputs"][0]["knitId"]
    runs.stop(knit, run["runId"], fail=True)  # failed: its output is knit#transient:failed
    lonely = push(knit, make_dir, "type:raw2")
    failed = retention.purge_where(knit, retention.selection(transient="failed"), dry_run=True)
    assert [d["knitId"] for d in failed["data"]] == [failed_out]
    superseded = retention.purge_where(knit, retention.selection(superseded=True), dry_run=True)
    assert [d["knitId"] for d in superseded["data"]] == [raw], "used by a finished Run only; lonely never used"
    assert lonely not in [d["knitId"] for d in superseded["data"]]
    with pytest.raises(InvalidInput, match="a selection of nothing"):
        retention.purge_where(knit, {"tags": []})


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(
    groups=st.lists(st.sampled_from(["p0", "p1", None]), min_size=1, max_size=8),
    busy=st.lists(st.booleans(), min_size=8, max_size=8),
    keep=st.integers(0, 3),
)
def test_keeps_exactly_n_per_group_and_never_an_input_of_an_unfinished_run(
    tmp_path_factory, groups, busy, keep
) -> None:
    root = tmp_path_factory.mktemp("keep")
    with Knit.open(home=Path(root) / "home") as knit:
        source = Path(root) / "src"
        source.mkdir()
        ids = []
        for n, group in enumerate(groups):
            tags = ["type:model"] + ([f"project:{group}"] if group else []) + (["busy:yes"] if busy[n] else [])
            ids.append((data.push_dir(knit, source, tags)["knitId"], group, busy[n]))
        plans.apply(knit, "image: x/busy:1\ninputs: [{path: /in, tags: ['busy:yes']}]\n")  # waiting Runs use them
        retention.purge_where(knit, retention.selection(tags=["type:model"], keep_last=keep, per=["project"]))
        gone = {d["knitId"] for d in data.find(knit) if is_purged(d["tags"])}
        by_group = defaultdict(list)
        for knit_id, group, is_busy in ids:
            by_group[group].append((knit_id, is_busy))
        for members in by_group.values():  # pushed in order: the last ones are the newest
            newest, older = members[::-1][:keep], members[::-1][keep:]
            assert not {k for k, _ in newest} & gone
            assert {k for k, b in older if not b} <= gone
            assert not {k for k, b in older if b} & gone, "inputs of unfinished Runs stay"


def test_declared_policies_are_applied_and_reported(knit: Knit, make_dir) -> None:
    (knit.home / "retention.yaml").write_text(
        "policies:\n  - name: models\n    tags: [type:model]\n    keep_last: 1\n    per: [project]\n"
    )
    old = push(knit, make_dir, "type:model", "project:a", content="12345")
    push(knit, make_dir, "type:model", "project:a")
    declared = retention.load_policies(knit)
    assert declared["source"] == str(knit.home / "retention.yaml")
    assert declared["policies"] == [
        {
            "name": "models",
            "selection": {"tags": ["type:model"], "transient": "both", "keep_last": 1, "per": ["project"]},
        }
    ]
    told = []
    (report,) = retention.apply_policies(knit, declared, on_purged=lambda k, b: told.append((k, b)))
    assert report["policy"] == "models" and report["count"] == 1 and report["bytes"] == 5
    assert told == [(f"{old} [policy models]", 5)]
    overview = retention.overview(knit)
    assert overview["reports"]["models"]["data"] == report["data"] and overview["policies"] == declared["policies"]
    retention.apply_policies(knit, declared, dry_run=True)
    assert retention.overview(knit)["reports"]["models"]["dryRun"] is True, "the newest report"


def test_declared_policies_from_the_connection_win_and_errors_are_one_line(knit: Knit) -> None:
    (knit.home / "retention.yaml").write_text("policies: []\n")
    text = "- name: failed\n  transient: failed\n"
    assert retention.load_policies(knit, text)["policies"][0]["name"] == "failed"
    assert retention.load_policies(knit, [{"name": "x", "superseded": True}])["policies"][0]["name"] == "x"
    assert retention.load_policies(knit)["policies"] == []
    with pytest.raises(InvalidInput, match="the knit connection's retention: policy 1: needs a name"):
        retention.load_policies(knit, "- transient: failed\n")
    (knit.home / "retention.yaml").write_text("policies: [\n")
    with pytest.raises(InvalidInput, match="retention.yaml:2:1: not valid YAML"):
        retention.load_policies(knit)
