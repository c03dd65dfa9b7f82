"""Starting Runs as DagRuns, on a real catalog: every write hands the Runs it made waiting to its dispatcher; push-time
start starts only those, and only a few (bounded, and none when the generator is behind); started Runs become
ready, refused ones stay waiting and go back to the generator (claim released) or keep their claim (the
generator's own refusals)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from knit_provider.airflow_client.dagruns import AirflowUnavailable
from knit_provider.core.airflow_names import Dispatch
from knit_provider.service import data, dispatching, execution, plans, runs
from knit_provider.service.context import Knit
from knit_provider.service.starting import BACKLOG_LIMIT, WRITE_START_LIMIT, start_claimed, start_now

PLAN = "image: r/a:v1\ninputs: [{path: /in, tags: ['t:raw']}]\noutputs: [{path: /out, tags: ['t:mid']}]\n"
NEXT = "image: r/b:v1\ninputs: [{path: /in, tags: ['t:mid']}]\noutputs: [{path: /out, tags: ['t:end']}]\n"


class Recorder:
    """A dispatcher that records what each write handed it (and can fail, as a broken Airflow would)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    def runs_waiting(self, knit: Knit, run_ids: Sequence[str]) -> None:
        self.calls.append(list(run_ids))
        if self.fail:
            raise RuntimeError("Airflow exploded")


@pytest.fixture
def two_waiting(knit, make_dir) -> list[str]:
    plan_id = plans.apply(knit, PLAN)["planId"]
    for text in ("one", "two"):
        data.push_dir(knit, make_dir(files={"x.txt": text}), ["t:raw"])
    found = runs.find(knit, plan_ids=[plan_id])
    assert [r["status"] for r in found] == ["waiting", "waiting"]
    return [r["runId"] for r in found]


def status(knit, run_id: str) -> str:
    return runs.show(knit, run_id)["status"]


def recording_start(seen: list[str], refuse: Sequence[str] = ()):
    def start(dispatch: Dispatch, still_waiting) -> None:
        if dispatch.run_id in refuse:
            raise AirflowUnavailable("HTTP 404: DAG not found", 404)
        seen.append(dispatch.run_id)

    return start


def test_every_write_hands_exactly_the_runs_it_made_waiting_to_its_dispatcher(knit, make_dir) -> None:
    recorder = Recorder()
    knit.dispatcher = recorder
    first = plans.apply(knit, PLAN)["planId"]
    assert recorder.calls == [], "a Plan with nothing to match makes no Run wait"
    pushed = data.push_dir(knit, make_dir("a", {"x": "1"}), ["t:raw"])
    (run_a,) = [r["runId"] for r in runs.find(knit, plan_ids=[first])]
    assert recorder.calls == [[run_a]], "the upload's Run, nothing else"
    data.push_dir(knit, make_dir("b", {"x": "2"}), ["other:tag"])
    assert len(recorder.calls) == 1, "an upload that matches nothing hands nothing"
    untagged = data.find(knit, ["other:tag"])[0]["knitId"]
    data.tag(knit, untagged, add=["t:raw"])
    run_b = next(r["runId"] for r in runs.find(knit, plan_ids=[first]) if r["runId"] != run_a)
    assert recorder.calls[-1] == [run_b], "a tag edit hands the Run it caused"
    plans.set_active(knit, first, False)
    plans.set_active(knit, first, True)
    assert sorted(recorder.calls[-1]) == sorted([run_a, run_b]), "activation makes the deactivated Runs wait again"
    downstream = plans.apply(knit, NEXT)["planId"]
    assert execution.start_attempt(knit, run_a) is not None
    execution.conclude(knit, run_a, exit_code=0, message="")
    (run_next,) = [r["runId"] for r in runs.find(knit, plan_ids=[downstream])]
    assert recorder.calls[-1] == [run_next], "a Run done hands the Run its output caused"
    runs.stop(knit, run_next, fail=True)
    runs.retry(knit, run_next)
    assert recorder.calls[-1] == [run_next], "a retried Run waits again"
    assert pushed["knitId"] and len(recorder.calls) == 5


def test_a_failing_dispatcher_never_fails_the_committed_write(knit, make_dir) -> None:
    knit.dispatcher = Recorder(fail=True)
    plan_id = plans.apply(knit, PLAN)["planId"]
    pushed = data.push_dir(knit, make_dir(files={"x.txt": "kept"}), ["t:raw"])
    assert data.show(knit, pushed["knitId"])["knitId"] == pushed["knitId"]
    assert [r["status"] for r in runs.find(knit, plan_ids=[plan_id])] == ["waiting"], "the generator starts it"


def test_push_time_start_starts_only_the_writes_runs_not_the_others_waiting(knit, two_waiting, make_dir) -> None:
    data.push_dir(knit, make_dir(files={"x.txt": "three"}), ["t:raw"])
    plan_id = runs.show(knit, two_waiting[0])["plan"]["planId"]
    (new,) = [r["runId"] for r in runs.find(knit, plan_ids=[plan_id]) if r["runId"] not in two_waiting]
    seen: list[str] = []
    report = start_now(knit, [new], recording_start(seen), refusals=(AirflowUnavailable,), redispatch_after_s=60)
    assert seen == [new] and report.started == [new]
    assert status(knit, new) == "ready" and [status(knit, r) for r in two_waiting] == ["waiting", "waiting"]
    due = [d.run_id for d in dispatching.claim_dispatchable(knit, redispatch_after_s=60)]
    assert sorted(due) == sorted(two_waiting), "the others were never claimed: the generator takes them at once"


def test_a_write_starts_a_bounded_number_and_leaves_the_rest_unclaimed(knit, make_dir) -> None:
    for number in range(WRITE_START_LIMIT + 4):
        data.push_dir(knit, make_dir(f"d{number}", {"x": str(number)}), ["t:raw"])
    backfilled = [r["runId"] for r in runs.find(knit, plan_ids=[plans.apply(knit, PLAN)["planId"]])]
    assert len(backfilled) == WRITE_START_LIMIT + 4
    seen: list[str] = []
    report = start_now(knit, backfilled, recording_start(seen), refusals=(), redispatch_after_s=60)
    assert seen == backfilled[:WRITE_START_LIMIT] == report.started
    assert sorted(report.deferred) == sorted(backfilled[WRITE_START_LIMIT:])
    limit = f"left to the generator: a write starts at most {WRITE_START_LIMIT} Runs itself"
    assert set(report.deferred.values()) == {limit}, "the reason is the limit, not another writer"
    assert dispatching.pending_work(knit, redispatch_after_s=60).dispatchable == 4


def test_with_a_backlog_a_write_starts_nothing_itself(knit, make_dir) -> None:
    plan_id = plans.apply(knit, PLAN)["planId"]
    for number in range(BACKLOG_LIMIT + 1):
        data.push_dir(knit, make_dir(f"d{number}", {"x": str(number)}), ["t:raw"])
    data.push_dir(knit, make_dir("last", {"x": "last"}), ["t:raw"])
    newest = runs.find(knit, plan_ids=[plan_id])[-1]["runId"]
    seen: list[str] = []
    report = start_now(knit, [newest], recording_start(seen), refusals=(), redispatch_after_s=60)
    assert seen == [] and report.started == []
    assert f"{BACKLOG_LIMIT + 1} other Runs wait" in report.deferred[newest]
    assert dispatching.pending_work(knit, redispatch_after_s=60).dispatchable == BACKLOG_LIMIT + 2


def test_push_time_starts_never_run_two_at_a_time(knit, two_waiting) -> None:
    """While one writer's start is in flight (claimed, DagRun not created yet), another writer starts nothing and
    leaves its Run unclaimed to the generator: concurrent writers never add up to concurrent DagRun creations."""
    first, second = two_waiting
    in_flight: list[str] = []

    def start_while_another_is_in_flight(dispatch: Dispatch, still_waiting) -> None:
        other = start_now(knit, [second], recording_start(in_flight), refusals=(), redispatch_after_s=60)
        assert other.started == [] and "another start is in flight" in other.deferred[second]

    report = start_now(knit, [first], start_while_another_is_in_flight, refusals=(), redispatch_after_s=60)
    assert report.started == [first] and in_flight == []
    assert status(knit, second) == "waiting"
    seen: list[str] = []
    assert start_now(knit, [second], recording_start(seen), refusals=(), redispatch_after_s=60).started == [second]
    assert seen == [second], "once the first start is done, the next one goes ahead"


def test_refused_runs_go_back_to_the_generator_at_once(knit, two_waiting) -> None:
    accepted, refused = two_waiting
    seen: list[str] = []
    start = recording_start(seen, refuse=[refused])
    report = start_now(knit, two_waiting, start, refusals=(AirflowUnavailable,), redispatch_after_s=60)
    assert report.started == [accepted] == seen
    assert list(report.deferred) == [refused] and "DAG not found" in report.deferred[refused]
    assert status(knit, accepted) == "ready" and status(knit, refused) == "waiting"
    pending = dispatching.pending_work(knit, redispatch_after_s=60)
    assert pending.dispatchable == 1, "the released claim is due at once, not after the redispatch delay"
    assert [d.run_id for d in dispatching.claim_dispatchable(knit, redispatch_after_s=60)] == [refused]


def test_the_dagrun_carries_the_run(knit, two_waiting) -> None:
    seen: list[Dispatch] = []
    start_now(knit, two_waiting[:1], lambda d, _: seen.append(d), refusals=(), redispatch_after_s=60)
    (dispatch,) = seen
    assert dispatch.dagrun_id == f"knit__{two_waiting[0]}"
    assert dispatch.conf == {"knit_run_id": two_waiting[0], "knit_plan_id": dispatch.plan_id}
    assert dispatch.dag_id.startswith("knit_plan__a-v1-")


def test_the_generator_keeps_its_claim_on_a_refusal_so_it_does_not_spin(knit, two_waiting) -> None:
    claimed = dispatching.claim_dispatchable(knit, redispatch_after_s=60)

    def refuse(dispatch: Dispatch, still_waiting) -> None:
        raise AirflowUnavailable("not parsed yet", 404)

    report = start_claimed(knit, claimed, refuse, refusals=(AirflowUnavailable,), release_refused=False)
    assert sorted(report.deferred) == sorted(two_waiting) and report.started == []
    assert dispatching.pending_work(knit, redispatch_after_s=60).dispatchable == 0
    assert [status(knit, r) for r in two_waiting] == ["waiting", "waiting"]


def test_an_unexpected_error_is_not_swallowed(knit, two_waiting) -> None:
    def broken(dispatch: Dispatch, still_waiting) -> None:
        raise ValueError("a bug, not a refusal")

    with pytest.raises(ValueError):
        start_now(knit, two_waiting, broken, refusals=(AirflowUnavailable,), redispatch_after_s=60)


def test_a_finished_dagrun_may_be_cleared_only_for_a_run_that_waits_again(knit, two_waiting) -> None:
    """A stale claim must not re-run a Run another dispatcher already ran; a retried Run must run again."""
    answers: dict[str, bool] = {}

    def start(dispatch: Dispatch, still_waiting) -> None:
        answers[dispatch.run_id] = still_waiting()

    stale, retried = two_waiting
    claimed = {d.run_id: d for d in dispatching.claim_dispatchable(knit, redispatch_after_s=60)}
    dispatching.mark_dispatched(knit, stale)  # another dispatcher started it; it ran to the end
    assignment = execution.start_attempt(knit, stale)
    assert isinstance(assignment, execution.Assignment)
    execution.conclude(knit, stale, exit_code=0, message="")
    start_claimed(knit, [claimed[stale], claimed[retried]], start, refusals=(), release_refused=False)
    assert answers == {stale: False, retried: True}
    assert status(knit, stale) == "done", "the stale claim changed nothing"


def test_the_note_links_the_run(two_waiting) -> None:
    dispatch = Dispatch(run_id=two_waiting[0], plan_id="p", dag_id="d")
    assert dispatch.note_at("") == f"Knit Run `{two_waiting[0]}` ([details](/knit/runs/{two_waiting[0]}))"
    assert dispatch.note_at("/airflow").endswith(f"([details](/airflow/knit/runs/{two_waiting[0]}))")
