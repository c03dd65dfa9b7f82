"""Knit Data as asset events, on a real catalog (SQLite and PostgreSQL): which Data a KnitAsset owes, each once,
recorded in the catalog so a restart resends only what Airflow never received."""

from __future__ import annotations

import pytest
from knit_dev.lifecycle import finish

from knit_provider.core.errors import InvalidInput
from knit_provider.service import assets, data, plans, runs
from knit_provider.service.assets import AssetSpec

pytestmark = pytest.mark.assets

MODEL = AssetSpec.of(["type:model", "project:p"])


def owed(knit, spec: AssetSpec = MODEL) -> list[str]:
    """What a watcher polling now would send, as a fresh trigger after a restart would see it."""
    return [e["knit_id"] for e in assets.due_events(knit, spec, head=assets.feed_head(knit))]


def push(knit, make_dir, *tags: str) -> str:
    return data.push_dir(knit, make_dir(), list(tags))["knitId"]


def test_an_asset_is_named_by_its_tag_set_wherever_it_is_declared() -> None:
    spec = AssetSpec.of(["project:p", "type:model", "type:model"])
    assert spec == MODEL and spec.uri == MODEL.uri and spec.key == MODEL.key
    assert spec.uri == "knit://knit/data?tag=project%3Ap&tag=type%3Amodel"
    assert spec.name == "knit: project:p, type:model"
    assert AssetSpec.from_uri(spec.uri) == spec
    assert AssetSpec.from_uri("s3://bucket/x") is None
    with pytest.raises(InvalidInput, match="knit#id"):
        AssetSpec.of(["knit#id:x"])
    with pytest.raises(InvalidInput, match="at least one tag"):
        AssetSpec.of([])
    with pytest.raises(InvalidInput, match="one string"):
        AssetSpec.of("type:model")


def test_each_matching_usable_data_is_owed_once_from_when_the_watch_starts(knit, make_dir) -> None:
    before = push(knit, make_dir, "type:model", "project:p")
    assets.start_watch(knit, MODEL)
    matching = [push(knit, make_dir, "type:model", "project:p", f"n:{i}") for i in range(3)]
    push(knit, make_dir, "type:model")  # lacks project:p
    push(knit, make_dir, "type:model", "project:q")
    extras = assets.due_events(knit, MODEL, head=assets.feed_head(knit))
    assert [e["knit_id"] for e in extras] == matching, "feed order, only matching, nothing from before the watch"
    assert before not in [e["knit_id"] for e in extras]
    first = extras[0]
    assert {"type:model", "project:p", "n:0", f"knit#id:{matching[0]}"} <= set(first["tags"])
    assert first["plan"] == "knit#uploaded" and first["run_id"] and first["plan_id"]
    assert owed(knit) == [], "claimed once: a second poll (or a restarted trigger) owes nothing"
    assert [d["state"] for d in assets.deliveries_to(knit, MODEL)] == ["sent"] * 3


def test_backfill_owes_the_matching_data_usable_before_the_watch(knit, make_dir) -> None:
    old = push(knit, make_dir, "type:model", "project:p")
    assets.start_watch(knit, MODEL, backfill=True)
    assert owed(knit) == [old]


def test_a_runs_output_is_owed_when_its_run_is_done_never_while_processing_or_failed(knit, make_dir) -> None:
    assets.start_watch(knit, MODEL)
    plans.apply(
        knit,
        "image: repo/train:1\ninputs: [{path: /in/d, tags: ['type:dataset']}]\n"
        "outputs: [{path: /out/m, tags: ['type:model', 'project:p']}]\n",
    )
    push(knit, make_dir, "type:dataset", "n:1")
    push(knit, make_dir, "type:dataset", "n:2")
    run_ok, run_bad = [r["runId"] for r in runs.find(knit, statuses=["waiting"])]
    assert owed(knit) == [], "outputs of a waiting Run are not usable"
    finished = finish(knit, run_ok)
    finish(knit, run_bad, exit_code=3)
    assert owed(knit) == [finished["outputs"][0]["knitId"]]


def test_tags_added_later_make_a_data_owed_once_and_removals_or_purges_take_nothing_back(knit, make_dir) -> None:
    assets.start_watch(knit, MODEL)
    knit_id = push(knit, make_dir, "type:model")
    assert owed(knit) == []
    data.tag(knit, knit_id, add=["project:p"])
    assert owed(knit) == [knit_id]
    data.tag(knit, knit_id, remove=["project:p"])
    data.tag(knit, knit_id, add=["project:p"])
    assert owed(knit) == [], "delivered once, whatever its tags do afterwards"
    data.purge(knit, knit_id)
    assert [d["knit_id"] for d in assets.deliveries_to(knit, MODEL)] == [knit_id]


def test_a_data_owed_to_two_assets_is_an_event_on_each(knit, make_dir) -> None:
    broad = AssetSpec.of(["type:model"])
    assets.start_watch(knit, MODEL)
    assets.start_watch(knit, broad)
    knit_id = push(knit, make_dir, "type:model", "project:p")
    assert owed(knit, MODEL) == [knit_id]
    assert owed(knit, broad) == [knit_id]
    assert [d["name"] for d in assets.deliveries_of(knit, knit_id)] == sorted([MODEL.name, broad.name])


def test_a_burst_is_claimed_in_bounded_polls_without_gaps(knit, make_dir, monkeypatch) -> None:
    monkeypatch.setattr(assets, "CLAIM_LIMIT", 4)
    assets.start_watch(knit, MODEL)
    pushed = [push(knit, make_dir, "type:model", "project:p") for _ in range(10)]
    got: list[str] = []
    for _ in range(5):
        got += owed(knit)
    assert got == pushed


def test_after_a_crash_unconfirmed_deliveries_are_settled_against_airflow(knit, make_dir) -> None:
    """Airflow holds the event of a (it committed, then the triggerer died before the confirmation), not of b (the
    triggerer died before handing it over): a is confirmed, b is sent again, nothing twice."""
    assets.start_watch(knit, MODEL)
    a, b, c = (push(knit, make_dir, "type:model", "project:p") for _ in range(3))
    assert owed(knit) == [a, b, c]
    assert assets.confirm(knit, MODEL.uri, c, asset_id=7, event_id=70)
    asked: list[tuple[str, list[str]]] = []

    def in_airflow(uri: str, knit_ids):
        asked.append((uri, sorted(knit_ids)))
        return {a: (7, 71)} if a in knit_ids else {}

    assert assets.settle_unconfirmed(knit, in_airflow, in_flight_ms=0) == {"confirmed": 1, "resend": 1}
    assert asked == [(MODEL.uri, sorted([a, b]))], "only the unconfirmed are looked up"
    assert owed(knit) == [b]
    states = {d["knit_id"]: (d["state"], d["airflow_event_id"]) for d in assets.deliveries_to(knit, MODEL)}
    assert states == {a: ("delivered", 71), b: ("sent", None), c: ("delivered", 70)}


def test_consumers_read_every_knit_id_of_a_batch_once() -> None:
    class Event:
        def __init__(self, extra):
            self.extra = extra

    events = [Event({"from_trigger": True, "payload": {"knit_id": k}}) for k in ("a", "b", "a")]
    assert assets.knit_ids_of_events(events + [Event({}), {"knit_id": "c"}]) == ["a", "b", "c"]


TRAIN = (
    "image: repo/train:1\ninputs: [{path: /in/d, tags: ['type:dataset']}]\n"
    "outputs: [{path: /out/m, tags: ['type:model', 'project:p']}, {path: /out/n, tags: ['type:model', 'project:p']}]\n"
)


def test_a_runs_task_claims_its_outputs_events_in_the_runs_final_write_and_the_watcher_the_rest(knit, make_dir) -> None:
    """The Run's task sends one event per watched asset as its outlet event; the watcher never sends that Data
    again, and sends the Run's other matching output itself (a task has one event per asset)."""
    broad = AssetSpec.of(["type:model"])
    unrelated = AssetSpec.of(["type:report"])
    for spec in (MODEL, broad, unrelated):
        assets.start_watch(knit, spec)
    plans.apply(knit, TRAIN)
    push(knit, make_dir, "type:dataset")
    (run,) = runs.find(knit, statuses=["waiting"])
    knit.outlet_claims = []
    finished = finish(knit, run["runId"])
    first, second = sorted(
        (o["knitId"] for o in finished["outputs"]), key=lambda k: data.show(knit, k)["upstream"]["mountpoint"]["path"]
    )
    claimed = knit.outlet_claims
    assert [uri for uri, _ in claimed] == [MODEL.uri, broad.uri], "one claim per watched asset, none for the other"
    assert {k for _, k in claimed} <= {first, second}
    events = assets.task_outlet_events(knit, claimed, lambda k: f"/knit/data/{k}")
    assert [(spec, extra["knit_id"]) for spec, extra in events] == [(AssetSpec.from_uri(u), k) for u, k in claimed]
    assert events[0][1]["run_id"] == run["runId"] and events[0][1]["data_url"] == f"/knit/data/{claimed[0][1]}"
    for spec in (MODEL, broad):
        task_sent = dict((AssetSpec.from_uri(u), k) for u, k in claimed)[spec]
        assert owed(knit, spec) == [k for k in (first, second) if k != task_sent], "the watcher sends only the rest"
        assert owed(knit, spec) == []
    assert owed(knit, unrelated) == []


def test_a_task_claim_settled_as_lost_is_left_to_the_watcher_and_not_sent_by_the_task(knit, make_dir) -> None:
    assets.start_watch(knit, MODEL)
    plans.apply(knit, TRAIN.replace(", {path: /out/n, tags: ['type:model', 'project:p']}", ""))
    push(knit, make_dir, "type:dataset")
    (run,) = runs.find(knit, statuses=["waiting"])
    knit.outlet_claims = []
    finished = finish(knit, run["runId"])
    (output,) = [o["knitId"] for o in finished["outputs"]]
    assert knit.outlet_claims == [(MODEL.uri, output)]
    assert assets.settle_unconfirmed(knit, lambda uri, ids: {}, in_flight_ms=-1000) == {"confirmed": 0, "resend": 1}
    assert assets.task_outlet_events(knit, knit.outlet_claims) == [], "queued again: the watcher's now"
    assert owed(knit) == [output], "sent once, by the watcher"


def test_a_run_ended_without_its_task_claims_nothing_and_the_watcher_delivers(knit, make_dir) -> None:
    assets.start_watch(knit, MODEL)
    plans.apply(knit, TRAIN)
    push(knit, make_dir, "type:dataset")
    (run,) = runs.find(knit, statuses=["waiting"])
    finished = finish(knit, run["runId"])  # outlet_claims None: a Run concluded elsewhere (reconciliation, tests)
    assert knit.outlet_claims is None
    assert sorted(owed(knit)) == sorted(o["knitId"] for o in finished["outputs"])
