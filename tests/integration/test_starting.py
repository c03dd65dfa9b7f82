"""Starting claimed Runs with any starter, on a real catalog: started Runs become ready, refused ones stay
waiting and go back to the generator (claim released) or keep their claim (the generator's own refusals)."""

from __future__ import annotations

import pytest

from knit_provider.airflow_client.dagruns import AirflowUnavailable
from knit_provider.service import data, execution, plans, runs
from knit_provider.service.starting import note_for, start_claimed, start_waiting

PLAN = "image: r/a:v1\ninputs: [{path: /in, tags: ['t:raw']}]\noutputs: [{path: /out, tags: ['t:mid']}]\n"


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


def test_started_runs_become_ready_and_refused_ones_go_back_to_the_generator(knit, two_waiting) -> None:
    accepted, refused = two_waiting
    seen: list[tuple[str, str, dict]] = []

    def start(dispatch: execution.Dispatch, still_waiting) -> None:
        if dispatch.run_id == refused:
            raise AirflowUnavailable("HTTP 404: DAG not found")
        seen.append((dispatch.dag_id, dispatch.dagrun_id, dispatch.conf))

    report = start_waiting(knit, start, refusals=(AirflowUnavailable,), redispatch_after_s=60)
    assert report.started == [accepted]
    assert list(report.deferred) == [refused] and "DAG not found" in report.deferred[refused]
    assert seen == [
        (seen[0][0], f"knit__{accepted}", {"knit_run_id": accepted, "knit_plan_id": seen[0][2]["knit_plan_id"]})
    ]
    assert status(knit, accepted) == "ready" and status(knit, refused) == "waiting"
    pending = execution.pending_work(knit.engine, redispatch_after_s=60)
    assert pending.dispatchable == 1, "the released claim is due at once, not after the redispatch delay"
    assert [d.run_id for d in execution.claim_dispatchable(knit, redispatch_after_s=60)] == [refused]


def test_the_generator_keeps_its_claim_on_a_refusal_so_it_does_not_spin(knit, two_waiting) -> None:
    claimed = execution.claim_dispatchable(knit, redispatch_after_s=60)

    def refuse(dispatch: execution.Dispatch, still_waiting) -> None:
        raise AirflowUnavailable("not parsed yet")

    report = start_claimed(knit, claimed, refuse, refusals=(AirflowUnavailable,), release_refused=False)
    assert sorted(report.deferred) == sorted(two_waiting) and report.started == []
    assert execution.pending_work(knit.engine, redispatch_after_s=60).dispatchable == 0
    assert [status(knit, r) for r in two_waiting] == ["waiting", "waiting"]


def test_an_unexpected_error_is_not_swallowed(knit, two_waiting) -> None:
    def broken(dispatch: execution.Dispatch, still_waiting) -> None:
        raise ValueError("a bug, not a refusal")

    with pytest.raises(ValueError):
        start_waiting(knit, broken, refusals=(AirflowUnavailable,), redispatch_after_s=60)


def test_a_finished_dagrun_may_be_cleared_only_for_a_run_that_waits_again(knit, two_waiting) -> None:
    """A stale claim must not re-run a Run another dispatcher already ran; a retried Run must run again."""
    answers: dict[str, bool] = {}

    def start(dispatch: execution.Dispatch, still_waiting) -> None:
        answers[dispatch.run_id] = still_waiting()

    stale, retried = two_waiting
    claimed = {d.run_id: d for d in execution.claim_dispatchable(knit, redispatch_after_s=60)}
    execution.mark_dispatched(knit, stale)  # another dispatcher started it; it ran to the end
    assignment = execution.start_attempt(knit, stale)
    assert isinstance(assignment, execution.Assignment)
    execution.conclude(knit, stale, exit_code=0, message="")
    start_claimed(knit, [claimed[stale], claimed[retried]], start, refusals=(), release_refused=False)
    assert answers == {stale: False, retried: True}
    assert status(knit, stale) == "done", "the stale claim changed nothing"


def test_the_note_links_the_run(two_waiting) -> None:
    dispatch = execution.Dispatch(run_id=two_waiting[0], plan_id="p", dag_id="d")
    assert note_for(dispatch) == f"Knit Run `{two_waiting[0]}` ([details](/knit/runs/{two_waiting[0]}))"
