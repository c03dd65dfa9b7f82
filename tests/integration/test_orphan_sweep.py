"""``kill -9`` during a push leaks nothing for long: real ``knit data push`` processes are killed while copying and
just after the rename into the store, then the sweep (``knit admin doctor --fix``, and the generator's pass)
reclaims every byte they left, and every real Data stays intact. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from knit_dev.waiting import wait_until

from knit_provider.catalog.engine import write_tx
from knit_provider.service import Knit, data

pytestmark = pytest.mark.reliability

KNIT = str(Path(sys.executable).with_name("knit"))
MiB = 1 << 20


@pytest.fixture
def env(tmp_path: Path, catalog_url: str) -> dict[str, str]:
    """What a ``knit`` process needs to work on the test's catalog and store (no profile anywhere)."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "KNIT_HOME": str(tmp_path / "home"),
        "KNIT_CATALOG_URL": catalog_url,
        "KNIT_PROFILE_STORE": str(tmp_path / "profiles"),
    }


def knit_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([KNIT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def start_push(env: dict[str, str], cwd: Path, source: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [KNIT, "data", "push", "-t", "doomed:yes", str(source)],
        env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def big_source(root: Path, files: int = 60, size: int = 4 * MiB) -> Path:
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"part-{i:03}.bin").write_bytes(os.urandom(1024) * (size // 1024))
    return root


def staged_bytes(store_root: Path) -> int:
    staging = store_root / ".staging"
    if not staging.exists():
        return 0
    return sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())


def data_dirs(store_root: Path) -> set[str]:
    return {p.name for p in store_root.iterdir() if not p.name.startswith(".")} if store_root.exists() else set()


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def backdate(store_root: Path, names: list[str], seconds: float = 7200) -> None:
    """Make leftovers look as old as a crash long ago (the sweep leaves anything younger than its grace)."""
    past = time.time() - seconds
    for name in names:
        os.utime(store_root / name, (past, past))


def kill_during_copy(env, cwd: Path, source: Path, store_root: Path) -> None:
    """Start pushes until one is killed with part of its copy in the staging area (it can finish first)."""
    for _ in range(5):
        before = data_dirs(store_root)
        push = start_push(env, cwd, source)
        wait_until(lambda p=push: staged_bytes(store_root) > 0 or p.poll() is not None, 60, "bytes in staging", 0.002)
        copying = push.poll() is None and staged_bytes(store_root) > 0
        kill(push)
        if copying and data_dirs(store_root) == before:
            return
    pytest.fail("no push could be killed during its copy in 5 tries")


def kill_after_rename(env, cwd: Path, source: Path, knit: Knit) -> str:
    """Hold the catalog's write lock, so the push stops right after its rename, and kill it there."""
    store_root = knit.store.root
    before = data_dirs(store_root)
    with write_tx(knit.engine):
        push = start_push(env, cwd, source)
        wait_until(
            lambda: data_dirs(store_root) - before or push.poll() is not None, 60, "the renamed data directory", 0.005
        )
        assert push.poll() is None, "the push ended while the catalog was locked"
        kill(push)
    (orphan,) = data_dirs(store_root) - before
    return orphan


def sweep_fixture(knit: Knit, make_dir, tmp_path: Path, env) -> tuple[dict[str, str], list[str]]:
    """Real Data (one pushed in-process, one by a ``knit`` process), then leftovers of killed pushes."""
    real = [data.push_dir(knit, make_dir("real-a", {"a.txt": "alpha", "s/b.txt": "beta"}), ["real:yes"])["knitId"]]
    pushed = knit_cli(env, tmp_path, "data", "push", "-t", "real:yes", str(make_dir("real-b", {"c.txt": "c"})))
    assert pushed.returncode == 0, pushed.stderr
    real.append(json.loads(pushed.stdout)["knitId"])
    checksums = {d["knitId"]: knit.store.measure(d["knitId"]).checksum for d in data.find(knit, ["real:yes"])}
    store_root = knit.store.root
    kill_during_copy(env, tmp_path, big_source(tmp_path / "big"), store_root)
    orphan = kill_after_rename(env, tmp_path, make_dir("small", {"x.txt": "x"}), knit)
    leftovers = [f".staging/{p.name}" for p in (store_root / ".staging").iterdir()] + [orphan]
    assert staged_bytes(store_root) > 0 and len(leftovers) >= 2
    return checksums, leftovers


def assert_real_data_intact(knit: Knit, checksums: dict[str, str]) -> None:
    assert {d["knitId"] for d in data.find(knit)} == set(checksums), "no Data came from a killed push"
    for knit_id, checksum in checksums.items():
        assert knit.store.measure(knit_id).checksum == checksum


def test_doctor_lists_then_fixes_what_killed_pushes_left(knit: Knit, make_dir, tmp_path: Path, env) -> None:
    checksums, leftovers = sweep_fixture(knit, make_dir, tmp_path, env)
    store_root = knit.store.root

    fresh = knit_cli(env, tmp_path, "admin", "doctor", "--fix")
    assert fresh.returncode == 0, fresh.stderr
    assert json.loads(fresh.stdout)["findings"] == [], "an hour's grace: what may be in flight is never touched"

    backdate(store_root, leftovers)
    listed = knit_cli(env, tmp_path, "admin", "doctor")
    report = json.loads(listed.stdout)
    assert sorted(f["path"] for f in report["findings"]) == sorted(leftovers)
    assert {f["kind"] for f in report["findings"]} == {"staging", "data"} and not report["fixed"]
    assert "--fix removes them" in listed.stderr and staged_bytes(store_root) > 0

    fixed = knit_cli(env, tmp_path, "admin", "doctor", "--fix")
    report = json.loads(fixed.stdout)
    assert all(f["removed"] for f in report["findings"]) and report["reclaimedBytes"] > 0
    assert list((store_root / ".staging").iterdir()) == []
    assert data_dirs(store_root) == set(checksums)
    assert_real_data_intact(knit, checksums)
    again = knit_cli(env, tmp_path, "admin", "doctor")
    assert json.loads(again.stdout)["findings"] == [] and "no inconsistency found" in again.stderr


def test_the_generators_pass_sweeps_on_start(
    knit: Knit, make_dir, tmp_path: Path, env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``generator_pass`` (the ``knit_generator`` DAG's work) sweeps the leftovers once due, then not again."""
    from knit_provider.service.generator import Timing, generator_pass

    checksums, leftovers = sweep_fixture(knit, make_dir, tmp_path, env)
    backdate(knit.store.root, leftovers)

    def all_running(held) -> dict:
        return {d.run_id: "running" for d in held}

    def run_pass() -> dict:
        return generator_pass(
            knit, start=lambda *_: None, refusals=(), dagrun_states=all_running, timing=Timing(10.0, 30.0)
        )

    run_pass()
    assert list((knit.store.root / ".staging").iterdir()) == [] and data_dirs(knit.store.root) == set(checksums)
    assert_real_data_intact(knit, checksums)
    (knit.store.root / ".staging" / "later").mkdir()
    backdate(knit.store.root, [".staging/later"])
    run_pass()
    assert (knit.store.root / ".staging" / "later").exists(), "at most one sweep per interval, for all processes"
