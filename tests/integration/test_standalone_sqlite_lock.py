"""The quickstart's Airflow (``knit_dev.standalone``) waits for SQLite's write lock instead of failing after
Python's default 5 s: a component that gets "database is locked" exits and ``airflow standalone`` never starts it
again, which took the e2e deployment's triggerer and scheduler down under 80 concurrent uploads.

Airflow itself reads the written ``airflow.cfg`` in a subprocess: another connection holds the write lock for
longer than 5 s, and a write through Airflow's own engine (and its aiosqlite engine) must wait and succeed."""

from __future__ import annotations

import functools
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from knit_dev.standalone import AIRFLOW_SQLITE_TIMEOUT_S, Standalone
from knit_dev.waiting import wait_until

pytestmark = [pytest.mark.reliability]

HOLD_S = 7.0  # longer than sqlite3's default busy timeout (5 s)

WRITE_THROUGH_AIRFLOW = """
import asyncio, os, sys, time
from airflow import settings
from sqlalchemy import text

def handshake(phase):
    open(sys.argv[1], "w").write(phase)
    while not os.path.exists(sys.argv[1] + "." + phase):
        time.sleep(0.02)
    return time.monotonic()

settings.configure_orm()
with settings.engine.begin() as conn:
    conn.execute(text("CREATE TABLE IF NOT EXISTS lock_probe (n INTEGER)"))
started = handshake("sync")
with settings.engine.begin() as conn:
    conn.execute(text("INSERT INTO lock_probe VALUES (1)"))
sync_waited = time.monotonic() - started

async def write_async():
    async with settings.async_engine.begin() as conn:
        await conn.execute(text("INSERT INTO lock_probe VALUES (2)"))
    await settings.async_engine.dispose()

started = handshake("async")
asyncio.run(write_async())
print(f"{sync_waited:.1f} {time.monotonic() - started:.1f}")
"""


def test_the_standalone_database_url_names_the_busy_timeout(tmp_path: Path) -> None:
    airflow = Standalone(knit_home=tmp_path / "home", port=1)
    airflow.configure()
    config = (airflow.airflow_home / "airflow.cfg").read_text()
    assert f"sql_alchemy_conn = {airflow.airflow_db_url}" in config
    assert airflow.airflow_db_url.endswith(f"?timeout={AIRFLOW_SQLITE_TIMEOUT_S}")
    assert AIRFLOW_SQLITE_TIMEOUT_S > HOLD_S


def test_airflow_waits_for_a_write_lock_held_longer_than_five_seconds(tmp_path: Path) -> None:
    airflow = Standalone(knit_home=tmp_path / "home", port=1)
    airflow.configure()
    signal = tmp_path / "signal"
    env = {**airflow.env(), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    probe = subprocess.Popen(
        [sys.executable, "-c", WRITE_THROUGH_AIRFLOW, str(signal)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    database = airflow.airflow_home / "airflow.db"

    def probe_at(phase: str) -> bool:
        assert probe.poll() is None, probe.stderr.read()
        return signal.exists() and signal.read_text() == phase

    try:
        for phase in ("sync", "async"):
            wait_until(functools.partial(probe_at, phase), 120, f"the probe at its {phase} write", interval=0.05)
            holder = sqlite3.connect(database, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")  # the write lock, as a long scheduler transaction holds it
            Path(f"{signal}.{phase}").touch()  # the probe writes now, and must wait
            time.sleep(HOLD_S)
            holder.execute("ROLLBACK")
            holder.close()
        out, err = probe.communicate(timeout=120)
    finally:
        if probe.poll() is None:
            probe.kill()
    assert probe.returncode == 0, err[-3000:]
    sync_waited, async_waited = (float(x) for x in out.strip().splitlines()[-1].split())  # after Airflow's logs
    assert sync_waited >= HOLD_S - 1.5, "the sync write did not wait for the lock"
    assert async_waited >= HOLD_S - 1.5, "the async write did not wait for the lock"
    assert os.path.getsize(database) > 0
