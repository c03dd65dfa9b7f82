"""``knit admin doctor``: what killed pushes leave in the store, listed and removed, where the store is (both modes:
in the remote mode the check runs on the api-server, next to its store)."""

from __future__ import annotations

import os
import time

import pytest

pytestmark = pytest.mark.reliability


def leave_leftovers(store_root) -> list[str]:
    """A staging directory and a data directory without Data, as ``kill -9`` leaves them, an hour old and more."""
    staging = store_root / ".staging" / "tmp-killed"
    (staging / "half").mkdir(parents=True)
    (staging / "half" / "part.bin").write_bytes(b"\0" * 4096)
    orphan = store_root / "4f0c3d52-0000-4000-8000-00000000dead"
    orphan.mkdir()
    (orphan / "f.txt").write_text("registered by nobody")
    past = time.time() - 7200
    for path in (staging, orphan):
        os.utime(path, (past, past))
    return [".staging/tmp-killed", orphan.name]


def test_doctor_lists_and_fixes_where_the_store_is(cli, cli_catalog, folder) -> None:
    folder("d", {"a.txt": "real"})
    real = cli("data", "push", "-t", "a:b", "d").json()["knitId"]
    leftovers = leave_leftovers(cli_catalog.store.root)

    listed = cli("admin", "doctor")
    assert listed.code == 0, listed.stderr
    report = listed.json()
    assert sorted(f["path"] for f in report["findings"]) == sorted(leftovers) and not report["fixed"]
    assert "found 2: 1 orphaned staging directory, 1 orphaned data directory" in listed.stderr
    assert (cli_catalog.store.root / leftovers[1]).exists()

    fixed = cli("admin", "doctor", "--fix")
    assert fixed.code == 0 and fixed.json()["reclaimedBytes"] == 4096 + len("registered by nobody")
    assert "removed 2" in fixed.stderr
    assert not (cli_catalog.store.root / leftovers[1]).exists()
    assert not (cli_catalog.store.root / ".staging" / "tmp-killed").exists()
    assert (cli_catalog.store.path(real) / "a.txt").read_text() == "real"
    assert cli("admin", "doctor").json()["findings"] == []


def test_doctor_refuses_a_bad_grace_in_one_line(cli) -> None:
    refused = cli("admin", "doctor", "--older-than", "soon")
    assert refused.code == 1 and refused.stderr.strip().count("\n") == 0 and "older-than" in refused.stderr
