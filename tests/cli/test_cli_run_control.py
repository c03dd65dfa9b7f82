"""``knit plan timeout`` and ``knit plan retries`` (beyond Knitfab), in the local and the remote mode, and plan YAML
that sets them."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.run_control
PLAN = "image: r/train:v1\ninputs: [{path: /in, tags: ['type:dataset']}]\noutputs: [{path: /out, tags: ['t:m']}]\n"


def test_timeout_and_retries_are_set_shown_and_unset(cli, workdir: Path) -> None:
    (workdir / "plan.yaml").write_text(PLAN + "timeout: 2h\nretries: {count: 1, delay: 10s}\n")
    applied = cli("plan", "apply", "plan.yaml")
    assert applied.code == 0, applied.stderr
    plan = applied.json()
    assert plan["timeout"] == "2h" and plan["retries"] == {"count": 1, "delay": "10s"}
    plan_id = plan["planId"]
    assert cli("plan", "timeout", plan_id, "45m").json()["timeout"] == "45m"
    assert cli("plan", "retries", plan_id, "3", "--delay", "1m").json()["retries"] == {"count": 3, "delay": "1m"}
    assert "timeout" not in cli("plan", "timeout", "--unset", plan_id).json()
    assert "retries" not in cli("plan", "retries", "--unset", plan_id).json()
    assert cli("plan", "show", plan_id).json().keys().isdisjoint({"timeout", "retries"})


def test_bad_values_are_one_line_and_usage_errors_exit_2(cli, workdir: Path) -> None:
    (workdir / "plan.yaml").write_text(PLAN)
    plan_id = cli("plan", "apply", "plan.yaml").json()["planId"]
    refused = cli("plan", "timeout", plan_id, "soon")
    assert refused.code == 1 and "timeout" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert cli("plan", "timeout", plan_id).code == 2, "a duration or --unset"
    assert cli("plan", "retries", plan_id, "500").code == 2
    assert cli("plan", "retries", "--unset", "--delay", "5s", plan_id).code == 2
    (workdir / "bad.yaml").write_text(PLAN + "retries: {cnt: 2}\n")
    bad = cli("plan", "apply", "bad.yaml")
    assert bad.code == 1 and "retries" in bad.stderr and "'cnt'" in bad.stderr
