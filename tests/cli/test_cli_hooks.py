"""``knit admin hooks`` (beyond Knitfab): the lifecycle hook calls pending and given up, in both modes (in the
remote mode the list is the api-server's catalog's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from knit_provider.service import data, plans, runs
from knit_provider.service.hook_calls import HookSettings
from knit_provider.service.lifecycle_hooks import consume_events, deliver_due

pytestmark = pytest.mark.run_control
PLAN = "image: r/hk:v1\ninputs: [{path: /in, tags: ['hk:cli']}]\noutputs: [{path: /out, tags: ['hk:o']}]\n"
DEAD = "http://127.0.0.1:9/hook?token=secret"  # nothing listens on the discard port: connection refused


def stopped_run_with_calls(knit, folder) -> str:
    """A Run stopped while waiting (two hooked changes), its calls to a dead URL tried once."""
    plan_id = plans.apply(knit, PLAN)["planId"]
    data.push_dir(knit, folder("in", {"a.txt": "x"}), ["hk:cli"])
    (run,) = runs.find(knit, plan_ids=[plan_id])
    runs.stop(knit, run["runId"], fail=True)
    hooks = HookSettings(source=f"lifecycle-hooks: {{after: ['{DEAD}']}}", timeout_s=1.0)
    consume_events(knit, hooks)
    deliver_due(knit, hooks)
    return run["runId"]


def test_pending_calls_are_listed_with_their_last_error(cli, cli_catalog, folder, workdir: Path) -> None:
    run_id = stopped_run_with_calls(cli_catalog, folder)
    listed = cli("admin", "hooks")
    assert listed.code == 0, listed.stderr
    calls = listed.json()
    assert [(c["transition"], c["phase"], c["state"]) for c in calls] == [
        ("waiting -> aborting", "after", "pending"),
        ("aborting -> failed", "after", "pending"),
    ]
    assert calls[0]["runId"] == run_id and calls[0]["tries"] == 1 and calls[0]["lastError"]
    assert calls[1]["tries"] == 0, "waits behind the first: in order per Run and URL"
    assert "secret" not in listed.stdout and calls[0]["url"] == "http://127.0.0.1:9/hook?***"
    assert listed.stderr.strip() == "2 pending"
    assert cli("admin", "hooks", "--state", "failed").json() == []
    assert len(cli("admin", "hooks", "--run", run_id).json()) == 2
    assert cli("admin", "hooks", "--run", "no-such-run").json() == []


def test_an_unknown_state_is_a_usage_error(cli) -> None:
    refused = cli("admin", "hooks", "--state", "lost")
    assert refused.code == 2 and "lost" in refused.stderr
