"""``knit explain`` as a user runs it, in both modes (remote: ``GET /knit/api/.../explain``): the README's example,
a misspelled tag found from one command."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.explain

TRAIN = (
    "image: x/train:1\n"
    "inputs: [{path: /in/dataset, tags: ['type:dataset', 'mode:training']}]\n"
    "outputs: [{path: /out/model, tags: ['type:model']}]\n"
)


def one_line(result, code: int = 1) -> str:
    assert result.code == code, (result.code, result.stdout, result.stderr)
    text = result.stderr.strip()
    assert "\n" not in text, result.stderr
    return text


def test_a_misspelled_tag_found_from_one_command(cli, folder, workdir: Path) -> None:
    (workdir / "train.yaml").write_text(TRAIN)
    plan_id = cli("plan", "apply", "train.yaml").json()["planId"]
    folder("qmnist")
    knit_id = cli("data", "push", "-t", "type:dataset", "-t", "mode:trainig", "qmnist").json()["knitId"]

    explained = cli("explain", knit_id)
    assert explained.code == 0, explained.stderr
    (entry,) = explained.json()["inputs"]
    assert entry["plan"]["planId"] == plan_id and entry["nominated"] is False
    assert entry["reasons"][0]["didYouMean"] == [{"missing": "mode:training", "has": "mode:trainig"}]
    assert cli("explain", "data", knit_id).json() == explained.json(), "`explain data` is the same command"

    text = cli("explain", "--format", "text", "--plan", plan_id, knit_id)
    assert text.code == 0, text.stderr
    assert (
        f"NOT nominated to plan {plan_id} (x/train:1), input /in/dataset [mode:training, type:dataset]" in text.stdout
    )
    assert "it has mode:trainig, which differs only slightly: did you mean mode:training?" in text.stdout

    fixed = cli("data", "tag", "--remove", "mode:trainig", "--add", "mode:training", knit_id)
    assert fixed.code == 0, fixed.stderr
    (entry,) = cli("explain", knit_id).json()["inputs"]
    assert entry["nominated"] is True and entry["runCount"] == 1


def test_explain_plan_lists_data_lacking_one_tag(cli, folder, workdir: Path) -> None:
    (workdir / "train.yaml").write_text(TRAIN)
    plan_id = cli("plan", "apply", "train.yaml").json()["planId"]
    folder("d")
    knit_id = cli("data", "push", "-t", "type:dataset", "-t", "mode:Training", "d").json()["knitId"]
    near = cli("explain", "plan", plan_id)
    assert near.code == 0, near.stderr
    assert near.json()["inputs"][0]["data"][0] == {
        "knitId": knit_id,
        "tags": ["mode:Training", "type:dataset"],
        "missing": "mode:training",
        "didYouMean": ["mode:Training"],
    }
    text = cli("explain", "plan", "--format", "text", plan_id)
    assert f"{knit_id} lacks mode:training (it has mode:Training: a misspelling?)" in text.stdout


def test_unknown_ids_and_bad_flags(cli, folder) -> None:
    assert one_line(cli("explain", "no-such-data")) == "knit: data not found: no-such-data"
    folder("d")
    knit_id = cli("data", "push", "-t", "a:b", "d").json()["knitId"]
    assert one_line(cli("explain", "--plan", "nope", knit_id)) == "knit: plan not found: nope"
    assert one_line(cli("explain", "plan", "nope")) == "knit: plan not found: nope"
    bad = cli("explain", "--format", "xml", knit_id)
    assert bad.code == 2 and "xml" in bad.stderr


def test_explain_run_names_the_event_and_who(cli, mode, folder, workdir: Path) -> None:
    (workdir / "train.yaml").write_text(TRAIN)
    plan_id = cli("plan", "apply", "train.yaml").json()["planId"]
    folder("d")
    knit_id = cli("data", "push", "-t", "type:dataset", "-t", "mode:training", "d").json()["knitId"]
    (run,) = cli("run", "find", "-p", plan_id).json()
    explained = cli("explain", "run", run["runId"])
    assert explained.code == 0, explained.stderr
    cause = explained.json()["cause"]
    assert (cause["event"], cause["ref"]) == ("upload", knit_id)
    who = "admin (Airflow user)" if mode == "remote" else cause["actor"]
    assert cause["actor"] == who and who.endswith(("(knit CLI)", "(Airflow user)"))
    assert cli("run", "stop", "--fail", run["runId"]).code == 0
    text = cli("explain", "run", "--format", "text", run["runId"])
    assert text.code == 0, text.stderr
    assert text.stdout.splitlines() == [
        f"Run {run['runId']} (failed) of plan {plan_id} (x/train:1)",
        f"why it exists: {cause['message']}",
        "why it is failed: " + cli("explain", "run", run["runId"]).json()["state"]["message"],
        "last changed by hand: " + cli("explain", "run", run["runId"]).json()["lastAction"]["message"],
    ]
    assert f"aborted (knit run stop --fail) by {who} at " in text.stdout
    assert one_line(cli("explain", "run", "nope")) == "knit: run not found: nope"
