"""``knit explain KNIT_ID`` on a real catalog (SQLite and PostgreSQL): every reason the issue names, each precise,
and the explanation agreeing with the catalog's own nominations on random catalogs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knit_provider.core.errors import NotFound
from knit_provider.service import Knit, data, explain, plans, runs

pytestmark = pytest.mark.explain

TRAIN = (
    "image: x/train:1\n"
    "inputs: [{path: /in/dataset, tags: ['type:dataset', 'mode:training']}]\n"
    "outputs: [{path: /out/model, tags: ['type:model']}]\n"
)
VALIDATE = (
    "image: x/validate:1\n"
    "inputs: [{path: /in/dataset, tags: ['type:dataset', 'mode:validation']},\n"
    "         {path: /in/model, tags: ['type:model']}]\n"
    "outputs: [{path: /out/metrics, tags: ['type:metrics']}]\n"
)
MAKE = (
    "image: x/make:1\n"
    "inputs: [{path: /in, tags: ['type:raw']}]\n"
    "outputs: [{path: /out, tags: ['type:dataset', 'mode:training']}]\n"
)


def entry(explained: dict, plan_id: str, path: str) -> dict:
    (found,) = [e for e in explained["inputs"] if e["plan"]["planId"] == plan_id and e["path"] == path]
    return found


def codes(found: dict) -> list[str]:
    return [r["reason"] for r in found["reasons"]]


def push(knit: Knit, make_dir, *tags: str) -> str:
    return data.push_dir(knit, make_dir(), list(tags))["knitId"]


def test_a_misspelled_tag_is_named_with_what_was_meant(knit: Knit, make_dir) -> None:
    train = plans.apply(knit, TRAIN)["planId"]
    knit_id = push(knit, make_dir, "type:dataset", "mode:trainig")
    explained = explain.data(knit, knit_id)
    found = entry(explained, train, "/in/dataset")
    assert found["nominated"] is False and found["related"] is True and codes(found) == ["missing-tags"]
    (reason,) = found["reasons"]
    assert reason["missing"] == ["mode:training"]
    assert reason["didYouMean"] == [{"missing": "mode:training", "has": "mode:trainig"}]
    assert explained["inputs"][0] == found, "the closest miss comes first"
    assert explained["summary"] == {"inputs": 1, "nominated": 0, "related": 1, "runs": 0}


def test_a_nominated_data_names_its_runs(knit: Knit, make_dir) -> None:
    train = plans.apply(knit, TRAIN)["planId"]
    knit_id = push(knit, make_dir, "type:dataset", "mode:training")
    found = entry(explain.data(knit, knit_id), train, "/in/dataset")
    (run,) = runs.find(knit, plan_ids=[train])
    assert found["nominated"] is True and found["runs"] == [{"runId": run["runId"], "status": "waiting"}]
    assert codes(found) == ["had-run"] and run["runId"] in found["reasons"][0]["message"]


@pytest.mark.parametrize("state", ["processing", "failed", "purged"])
def test_a_transient_data_says_which_state(knit: Knit, make_dir, state: str) -> None:
    maker = plans.apply(knit, MAKE)["planId"]
    if state == "purged":  # purged before the Plan exists (a Run using it would block the purge)
        knit_id = push(knit, make_dir, "type:dataset", "mode:training")
        data.purge(knit, knit_id)
    else:
        push(knit, make_dir, "type:raw")
        (run,) = runs.find(knit, plan_ids=[maker])
        knit_id = run["outputs"][0]["knitId"]
        if state == "failed":
            runs.stop(knit, run["runId"], fail=True)
    train = plans.apply(knit, TRAIN)["planId"]
    found = entry(explain.data(knit, knit_id), train, "/in/dataset")
    assert found["nominated"] is False and codes(found) == ["transient"]
    assert found["reasons"][0]["transient"] == state


def test_a_pin_on_another_data_is_named(knit: Knit, make_dir) -> None:
    other = push(knit, make_dir, "type:dataset")
    pinned = plans.apply(
        knit, f"image: x/pinned:1\ninputs: [{{path: /in, tags: ['type:dataset', 'knit#id:{other}']}}]\n"
    )
    knit_id = push(knit, make_dir, "type:dataset")
    found = entry(explain.data(knit, knit_id), pinned["planId"], "/in")
    assert codes(found) == ["pin-mismatch"] and found["reasons"][0]["pin"] == f"knit#id:{other}"
    assert found["tags"] == sorted(["type:dataset", f"knit#id:{other}"])
    assert entry(explain.data(knit, other), pinned["planId"], "/in")["nominated"] is True


def test_an_inactive_plan_keeps_its_runs_deactivated(knit: Knit, make_dir) -> None:
    train = plans.apply(knit, TRAIN.replace("outputs:", "active: false\noutputs:"))["planId"]
    knit_id = push(knit, make_dir, "type:dataset", "mode:training")
    found = entry(explain.data(knit, knit_id), train, "/in/dataset")
    assert found["nominated"] is True and found["active"] is False
    assert codes(found) == ["plan-inactive", "had-run"] and found["runs"][0]["status"] == "deactivated"
    assert f"knit plan active yes {train}" in found["reasons"][0]["message"]


def test_a_nominated_data_waiting_for_another_input_names_it(knit: Knit, make_dir) -> None:
    validate = plans.apply(knit, VALIDATE)["planId"]
    knit_id = push(knit, make_dir, "type:dataset", "mode:validation")
    explained = explain.data(knit, knit_id)
    found = entry(explained, validate, "/in/dataset")
    assert found["nominated"] is True and codes(found) == ["waits-for-input"]
    assert found["reasons"][0]["path"] == "/in/model" and found["reasons"][0]["tags"] == ["type:model"]
    assert found["reasons"][0]["message"].startswith("the Plan waits for Data on /in/model (type:model)")
    other = entry(explained, validate, "/in/model")
    assert codes(other) == ["missing-tags"], "the other input is not waited for: this Data is there"


def test_a_combination_that_had_a_run_never_runs_again_and_the_tombstone_says_so(knit: Knit, make_dir) -> None:
    train = plans.apply(knit, TRAIN)["planId"]
    knit_id = push(knit, make_dir, "type:dataset", "mode:training")
    (run,) = runs.find(knit, plan_ids=[train])
    runs.remove(knit, run["runId"])  # a tombstone
    data.tag(knit, knit_id, remove=["mode:training"])
    data.tag(knit, knit_id, add=["mode:training"])  # nominated again: no new Run
    assert [r["status"] for r in runs.find(knit, plan_ids=[train])] == ["invalidated"], "no new Run"
    found = entry(explain.data(knit, knit_id), train, "/in/dataset")
    assert found["nominated"] is True and codes(found) == ["had-run"]
    (reason,) = found["reasons"]
    assert reason["runs"] == [{"runId": run["runId"], "status": "invalidated"}] and reason["runCount"] == 1
    assert "a tombstone of knit run rm" in reason["message"] and "never runs twice" in reason["message"]


def test_one_plan_only_and_unknown_ids(knit: Knit, make_dir) -> None:
    train = plans.apply(knit, TRAIN)["planId"]
    validate = plans.apply(knit, VALIDATE)["planId"]
    knit_id = push(knit, make_dir, "type:dataset")
    assert {e["plan"]["planId"] for e in explain.data(knit, knit_id)["inputs"]} == {train, validate}
    only = explain.data(knit, knit_id, plan_id=validate)
    assert [e["path"] for e in only["inputs"]] == ["/in/dataset", "/in/model"]
    with pytest.raises(NotFound, match="data not found: nope"):
        explain.data(knit, "nope")
    with pytest.raises(NotFound, match="plan not found: nope"):
        explain.data(knit, knit_id, plan_id="nope")


def test_near_misses_lists_data_lacking_one_tag_look_alikes_first(knit: Knit, make_dir) -> None:
    train = plans.apply(knit, TRAIN)["planId"]
    plain = push(knit, make_dir, "type:dataset")
    typo = push(knit, make_dir, "type:dataset", "mode:Training ")
    push(knit, make_dir, "type:other", "mode:validation")  # lacks both
    push(knit, make_dir, "type:dataset", "mode:training")  # nominated: no near miss
    purged = push(knit, make_dir, "type:dataset")
    data.purge(knit, purged)  # not usable: never listed
    (point,) = explain.near_misses(knit, train)["inputs"]
    assert point["total"] == 2
    assert [(d["knitId"], d["missing"], d["didYouMean"]) for d in point["data"]] == [
        (typo, "mode:training", ["mode:Training"]),
        (plain, "mode:training", []),
    ]
    one_tag = plans.apply(knit, "image: x/one:1\ninputs: [{path: /in, tags: ['kind:photo']}]\n")["planId"]
    alike = push(knit, make_dir, "kind:phtoo")
    (point,) = explain.near_misses(knit, one_tag)["inputs"]
    assert [(d["knitId"], d["didYouMean"]) for d in point["data"]] == [(alike, ["kind:phtoo"])]
    with pytest.raises(NotFound):
        explain.near_misses(knit, "nope")


# ---- the explanation and the catalog agree ----------------------------------------------------------------------

TAGS = ["a:1", "a:2", "b:1", "c:1"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    inputs=st.lists(st.lists(st.sampled_from(TAGS), min_size=1, max_size=3, unique=True), min_size=1, max_size=3),
    pushes=st.lists(st.lists(st.sampled_from(TAGS), max_size=3, unique=True), min_size=1, max_size=4),
    active=st.booleans(),
)
def test_nominated_exactly_when_the_rules_find_no_reason(tmp_path_factory, inputs, pushes, active) -> None:
    """The catalog nominates in SQL; the explanation derives reasons from ``core``: they never disagree."""
    root = tmp_path_factory.mktemp("agree")
    source = root / "src"
    source.mkdir()
    (source / "f").write_text("x")
    with Knit.open(home=Path(root) / "home") as knit:
        ports = ", ".join(f"{{path: /in/{n}, tags: {tags!r}}}" for n, tags in enumerate(inputs))
        plan_id = plans.apply(knit, f"image: x/p:1\nactive: {str(active).lower()}\ninputs: [{ports}]\n")["planId"]
        for tags in pushes:
            knit_id = data.push_dir(knit, source, tags)["knitId"]
        for knit_id in [d["knitId"] for d in data.find(knit)]:
            nominated_to = {n["path"] for n in data.show(knit, knit_id)["nomination"]}
            for found in explain.data(knit, knit_id, plan_id=plan_id)["inputs"]:
                rule_reasons = {"transient", "missing-tags", "pin-mismatch"} & set(codes(found))
                assert found["nominated"] == (found["path"] in nominated_to) == (not rule_reasons)
                assert ("plan-inactive" in codes(found)) == (not active)
