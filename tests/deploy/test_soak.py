"""``bench/soak.py`` for half a minute: random pushes, tag edits, Plan applies, stops and retries from 4 writers on
PostgreSQL with 2 schedulers, then every invariant holds (issue 19, item 11). The bench itself runs 10 minutes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.postgresql]


def test_a_short_soak_keeps_every_invariant() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), "--minutes", "0.5"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"violations", "operations", "invariants"} <= set(result), result
    assert result["operations"]["done"].get("push", 0) > 0, result
    assert sum(result["runs"].values()) > 0, "the writers' pushes made Runs"
    assert result["violations"] == 0, json.dumps(result["examples"], indent=1)
