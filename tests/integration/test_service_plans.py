"""Plan operations on a real catalog: apply (identity, cycles, backfill), find, mutable fields."""

from __future__ import annotations

import pytest

from knit_provider.core.errors import Conflict, InvalidInput, NotFound
from knit_provider.service import data, dispatching, plans, runs

TRAIN = """
image: "localhost:30503/knitfab-first-train:v1.0"
inputs:
  - path: "/in/dataset"
    tags: ["type:dataset", "project:first-knitfab", "mode:training"]
outputs:
  - path: "/out/model"
    tags: ["type:model", "project:first-knitfab"]
log:
  tags: ["type:log", "project:first-knitfab"]
active: true
resources: {cpu: 1, memory: 1Gi}
"""
VALIDATE = """
image: "localhost:30503/knitfab-first-validation:v1.0"
inputs:
  - path: "/in/dataset"
    tags: ["type:dataset", "project:first-knitfab", "mode:validation"]
  - path: "/in/model"
    tags: ["type:model", "project:first-knitfab"]
outputs:
  - path: "/out/metrics"
    tags: ["type:metrics", "project:first-knitfab"]
"""


def test_apply_returns_knitfab_plan_json(knit) -> None:
    plan = plans.apply(knit, TRAIN)
    assert plan["image"] == "localhost:30503/knitfab-first-train:v1.0"
    assert plan["inputs"] == [
        {"path": "/in/dataset", "tags": ["mode:training", "project:first-knitfab", "type:dataset"], "upstreams": []}
    ]
    assert plan["outputs"][0]["path"] == "/out/model" and plan["outputs"][0]["downstreams"] == []
    assert plan["log"] == {"tags": ["project:first-knitfab", "type:log"], "downstreams": []}
    assert plan["active"] is True
    assert plan["resources"] == {"cpu": "1", "memory": "1Gi"}
    assert list(plan)[:2] == ["planId", "image"]


def test_upstreams_and_downstreams_follow_tags(knit) -> None:
    train = plans.apply(knit, TRAIN)
    validate = plans.apply(knit, VALIDATE)
    train = plans.show(knit, train["planId"])
    downstream = train["outputs"][0]["downstreams"]
    assert [(d["plan"]["planId"], d["mountpoint"]["path"]) for d in downstream] == [(validate["planId"], "/in/model")]
    upstream = validate["inputs"][1]["upstreams"]
    assert [(u["plan"]["planId"], u["mountpoint"]["path"]) for u in upstream] == [(train["planId"], "/out/model")]


def test_equivalent_plan_is_a_conflict_naming_the_existing_plan(knit) -> None:
    first = plans.apply(knit, TRAIN)
    reordered = TRAIN.replace(
        '["type:dataset", "project:first-knitfab", "mode:training"]',
        '["mode:training", "type:dataset", "project:first-knitfab"]',
    )
    with pytest.raises(Conflict, match=first["planId"]):
        plans.apply(knit, reordered.replace("active: true", "active: false"))
    assert len(plans.find(knit)) == 1


def test_cycles_are_refused_and_change_nothing(knit) -> None:
    plans.apply(knit, "image: r/a:v1\ninputs: [{path: /in, tags: ['k:x']}]\noutputs: [{path: /out, tags: ['k:y']}]\n")
    with pytest.raises(Conflict, match="cycle"):
        plans.apply(
            knit, "image: r/b:v1\ninputs: [{path: /in, tags: ['k:y']}]\noutputs: [{path: /o, tags: ['k:x', 'z:1']}]"
        )
    with pytest.raises(Conflict, match="cycle"):
        plans.apply(
            knit, "image: r/c:v1\ninputs: [{path: /in, tags: ['s:1']}]\noutputs: [{path: /o, tags: ['s:1', 't:2']}]"
        )
    with pytest.raises(Conflict, match="cycle"):
        plans.apply(knit, "image: r/d:v1\ninputs: [{path: /in, tags: ['k:y']}]\nlog: {tags: ['k:x']}\n")
    assert len(plans.find(knit)) == 1
    pinned = "image: r/e:v1\ninputs: [{path: /in, tags: ['k:y', 'knit#id:abc']}]\noutputs: [{path: /o, tags: ['k:x']}]"
    plans.apply(knit, pinned)  # a pinned input is not an edge: no cycle
    assert len(plans.find(knit)) == 2


def test_apply_backfills_every_combination(knit, make_dir) -> None:
    datasets = [
        data.push_dir(knit, make_dir(), ["type:dataset", "project:first-knitfab", "mode:validation"]) for _ in range(2)
    ]
    models = [data.push_dir(knit, make_dir(), ["type:model", "project:first-knitfab"]) for _ in range(3)]
    plan = plans.apply(knit, VALIDATE)
    found = runs.find(knit, plan_ids=[plan["planId"]])
    assert len(found) == 6
    combos = {tuple(i["knitId"] for i in r["inputs"]) for r in found}
    assert combos == {(d["knitId"], m["knitId"]) for d in datasets for m in models}
    assert {r["status"] for r in found} == {"waiting"}


def test_inactive_plan_creates_deactivated_runs_and_toggles_only_those(knit, make_dir) -> None:
    plan = plans.apply(knit, TRAIN.replace("active: true", "active: false"))
    data.push_dir(knit, make_dir(), ["type:dataset", "project:first-knitfab", "mode:training"])
    assert [r["status"] for r in runs.find(knit, plan_ids=[plan["planId"]])] == ["deactivated"]
    assert plans.set_active(knit, plan["planId"], True)["active"] is True
    assert [r["status"] for r in runs.find(knit, plan_ids=[plan["planId"]])] == ["waiting"]
    run_id = runs.find(knit, plan_ids=[plan["planId"]])[0]["runId"]
    dispatching.mark_dispatched(knit, run_id)  # its DagRun exists: ready
    plans.set_active(knit, plan["planId"], False)
    assert runs.show(knit, run_id)["status"] == "ready", "only waiting <-> deactivated flip"


def test_find_by_active_image_and_port_tags(knit) -> None:
    train = plans.apply(knit, TRAIN)
    validate = plans.apply(knit, VALIDATE.replace("/out/metrics", "/out/m") + "active: false\n")
    ids = lambda found: [p["planId"] for p in found]  # noqa: E731
    assert ids(plans.find(knit)) == [train["planId"], validate["planId"]]
    assert ids(plans.find(knit, active="no")) == [validate["planId"]]
    assert ids(plans.find(knit, image="localhost:30503/knitfab-first-train")) == [train["planId"]]
    assert ids(plans.find(knit, image="localhost:30503/knitfab-first-train:v1.0")) == [train["planId"]]
    assert ids(plans.find(knit, in_tags=["type:model"])) == [validate["planId"]]
    assert ids(plans.find(knit, in_tags=["type:model", "mode:validation"])) == [], "tags must be on one input"
    assert ids(plans.find(knit, out_tags=["type:model"])) == [train["planId"]]
    assert ids(plans.find(knit, in_tags=["never:seen"])) == []


def test_mutable_fields(knit) -> None:
    plan_id = plans.apply(knit, TRAIN)["planId"]
    updated = plans.set_resources(knit, plan_id, set_={"cpu": "500m", "nvidia.com/gpu": "1"}, unset=["memory"])
    assert updated["resources"] == {"cpu": "500m", "nvidia.com/gpu": "1"}
    with pytest.raises(InvalidInput, match="resources.cpu"):
        plans.set_resources(knit, plan_id, set_={"cpu": "lots"})
    annotated = plans.annotate(knit, plan_id, add=["a=1", "b=2", "c=3"])
    assert annotated["annotations"] == ["a=1", "b=2", "c=3"]
    annotated = plans.annotate(knit, plan_id, add=["a=9"], remove=["b=2"], remove_keys=["c"])
    assert annotated["annotations"] == ["a=1", "a=9"], "as Knitfab: a key keeps every value added"
    assert plans.set_service_account(knit, plan_id, "trainer")["service_account"] == "trainer"
    assert "service_account" not in plans.set_service_account(knit, plan_id, None)
    with pytest.raises(InvalidInput, match="service_account"):
        plans.set_service_account(knit, plan_id, "Not Valid!")
    with pytest.raises(NotFound, match="plan not found: nope"):
        plans.set_active(knit, "nope", True)
