"""``knit.notify.*`` annotations through the CLI, in both modes: a notifier is accepted, a ``slack://`` one is
refused in one line naming the missing Slack provider, a misspelt one with a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.run_control
PLAN = "image: r/nt:v1\ninputs: [{path: /in, tags: ['nt:cli']}]\noutputs: [{path: /out, tags: ['nt:o']}]\n"


def test_notifier_annotations_are_checked(cli, workdir: Path) -> None:
    (workdir / "plan.yaml").write_text(PLAN)
    plan_id = cli("plan", "apply", "plan.yaml").json()["planId"]
    added = cli("plan", "annotate", "--add", "knit.notify.on_failure=my_team.notifiers.PageOnCall", plan_id)
    assert added.code == 0 and added.json()["annotations"] == ["knit.notify.on_failure=my_team.notifiers.PageOnCall"]
    slack = cli("plan", "annotate", "--add", "knit.notify.on_failure=slack://alerts", plan_id)
    assert slack.code == 1 and len(slack.stderr.strip().splitlines()) == 1
    assert "needs the Slack provider (apache-airflow-providers-slack), which is not installed" in slack.stderr
    typo = cli("plan", "annotate", "--add", "knit.notify.on_sucess=my.Notifier", plan_id)
    assert typo.code == 1 and "did you mean knit.notify.on_success?" in typo.stderr
    assert cli("plan", "show", plan_id).json()["annotations"] == ["knit.notify.on_failure=my_team.notifiers.PageOnCall"]
