"""``knit explain run`` in words (``core.run_story``): every cause, every status, the changes made by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from knit_provider.core.airflow_names import dagrun_id, plan_dag_id
from knit_provider.core.lifecycle import RunStatus
from knit_provider.core.run_story import RunFacts, action_message, cause_message, state_message
from knit_provider.core.timefmt import format_ms

pytestmark = pytest.mark.explain

T0, T1, T2 = 1_700_000_000_000, 1_700_000_060_000, 1_700_000_120_000
RUN = RunFacts(
    run_id="r-1", plan_id="p-1", image="repo/train:1", plan_active=True, status=RunStatus.WAITING,
    created_at=T0, updated_at=T1, finished_at=None, exit_code=None, exit_message=None, dispatched_at=None,
    cause="upload", cause_ref="d-1", cause_actor="alice@host (knit CLI)", action=None, action_actor=None,
    action_at=None,
)  # fmt: skip
DAG = plan_dag_id("repo/train:1", "p-1")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, f"Data d-1 was uploaded by alice@host (knit CLI) at {format_ms(T0)}, and it filled this Plan's input"),
        (
            {"image": None, "status": RunStatus.DONE},
            f"an upload (knit data push) of Data d-1 by alice@host (knit CLI) at {format_ms(T0)}",
        ),
        (
            {"cause": "tag-edit", "cause_actor": "admin (Airflow user)"},
            f"the tags of Data d-1 were edited by admin (Airflow user) at {format_ms(T0)}, which nominated it to "
            "this Plan's input",
        ),
        (
            {"cause": "run-done", "cause_ref": "r-0", "cause_actor": None},
            f"Run r-0 finished done at {format_ms(T0)}, and its output filled this Plan's input",
        ),
        (
            {"cause": "plan-apply", "cause_ref": "p-1"},
            f"this Plan was applied by alice@host (knit CLI) at {format_ms(T0)}: a Run for every combination of "
            "existing Data (a backfill)",
        ),
        (
            {"cause": None, "cause_ref": None, "cause_actor": None},
            f"created at {format_ms(T0)}; recorded before causes were kept, so what created it is not known",
        ),
    ],
)
def test_every_cause(changes: dict, expected: str) -> None:
    assert cause_message(replace(RUN, **changes)) == expected


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"status": RunStatus.DEACTIVATED, "plan_active": False}, "its Plan is inactive: it waits, deactivated, "
         "until `knit plan active yes p-1`"),
        ({}, f"it waits for its DagRun in DAG {DAG}: the write that made it waiting starts it"),
        ({"dispatched_at": T1}, f"starting its DagRun in DAG {DAG} was last tried at {format_ms(T1)}"),
        ({"status": RunStatus.READY}, f"its DagRun {dagrun_id('r-1')} of DAG {DAG} exists and waits for a slot"),
        ({"status": RunStatus.STARTING}, "its task is starting the program (image repo/train:1)"),
        ({"status": RunStatus.RUNNING}, f"its program is running since {format_ms(T1)}"),
        ({"status": RunStatus.COMPLETING, "exit_code": 0, "exit_message": "stopped by user"},
         "it is stopping and will end done (exit 0: stopped by user)"),
        ({"status": RunStatus.ABORTING, "exit_code": 253, "exit_message": "aborted by user"},
         "it is stopping and will end failed (exit 253: aborted by user (a user aborted it"),
        ({"status": RunStatus.DONE, "finished_at": T2, "exit_code": 0, "exit_message": ""},
         f"it finished done at {format_ms(T2)}"),
        ({"status": RunStatus.FAILED, "finished_at": T2, "exit_code": 3, "exit_message": "exit status 3"},
         f"it failed at {format_ms(T2)} with exit 3: exit status 3 (the program exited with that code)"),
        ({"status": RunStatus.FAILED, "finished_at": T2, "exit_code": 255, "exit_message": "lost"},
         "exit 255: lost (its task was lost"),
        ({"status": RunStatus.FAILED, "finished_at": T2, "exit_code": 125, "exit_message": "image pull failed"},
         "(it could not start (the image, a mount, or scheduling its pod failed))"),
        ({"status": RunStatus.INVALIDATED}, "removed (knit run rm): a tombstone kept so that its combination never "
         "runs again"),
    ],
)  # fmt: skip
def test_every_state(changes: dict, words: str) -> None:
    assert words in state_message(replace(RUN, **changes))


def test_changes_made_by_hand() -> None:
    assert action_message(RUN) is None
    retried = replace(RUN, action="retry", action_actor="bob (Airflow user)", action_at=T2)
    assert action_message(retried) == f"retried (knit run retry) by bob (Airflow user) at {format_ms(T2)}"
    activated = replace(RUN, action="activate", action_actor=None, action_at=T2)
    assert action_message(activated) == f"made waiting again when its Plan was activated at {format_ms(T2)}"
