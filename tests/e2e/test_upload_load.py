"""Writers under load on the quickstart's deployment (SQLite, ``airflow standalone``): concurrent REST uploads and
concurrent ``knit data push`` processes naming the Airflow, each write creating a Run. Every Run ends done and no
Airflow component exits (before push-time start was bounded, 34-75 REST uploads made the scheduler, triggerer and
dag-processor exit on "database is locked" and hung the api-server). ``bench/upload_load.py`` measures the same at
500 writes, with the health endpoint's latency."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from knit_dev.standalone import Standalone
from knit_dev.waiting import wait_until

from knit_provider.service import Knit

from .conftest import runs_of, sh_plan

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.reliability]
WRITES = 80
CLIENTS = 8


def tarball(text: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        body = text.encode()
        info = tarfile.TarInfo("data.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def all_done(airflow: Standalone, knit: Knit, plan_id: str) -> bool:
    assert airflow.components_down() == [], "an Airflow component exited under load"
    statuses = [r["status"] for r in runs_of(knit, plan_id)]
    assert "failed" not in statuses, "a Run failed under load"
    return len(statuses) == WRITES and set(statuses) == {"done"}


def test_concurrent_rest_uploads_all_run_and_airflow_stays_up(airflow: Standalone, knit: Knit, apply_plan) -> None:
    from knit_provider.remote import KnitClient

    plan_id = apply_plan(sh_plan("load:rest", "load:rest-out", "cp /in/x/* /out/y/"))
    assert airflow.components_down() == [], "all four components run before the load"

    def upload(numbers: range) -> list[str]:
        with KnitClient(airflow.url, username="admin", password=airflow.password(), timeout=120) as client:
            return [client.data.push_tar(io.BytesIO(tarball(f"{n}\n")), ["load:rest"])["knitId"] for n in numbers]

    with ThreadPoolExecutor(CLIENTS) as pool:
        per_client = WRITES // CLIENTS
        pushed = [k for ids in pool.map(upload, [range(i, i + per_client) for i in range(0, WRITES, per_client)])
                  for k in ids]  # fmt: skip
    assert len(set(pushed)) == WRITES
    wait_until(lambda: all_done(airflow, knit, plan_id), 600, f"{WRITES} uploaded Runs done")
    assert airflow.components_down() == [], "no component exited"
    assert airflow.api("GET", "/api/v2/monitor/health")["scheduler"]["status"] == "healthy"


def test_concurrent_cli_pushes_naming_the_airflow_all_run(
    airflow: Standalone, knit: Knit, apply_plan, tmp_path
) -> None:
    plan_id = apply_plan(sh_plan("load:cli", "load:cli-out", "cp /in/x/* /out/y/"))
    assert airflow.components_down() == [], "all four components run before the load"
    sources = []
    for number in range(WRITES):
        source = tmp_path / f"d{number}"
        source.mkdir()
        (source / "data.txt").write_text(f"{number}\n")
        sources.append(str(source))
    env = {**os.environ, "KNIT_HOME": str(airflow.knit_home), "KNIT_AIRFLOW_URL": airflow.url,
           "KNIT_AIRFLOW_USERNAME": "admin", "KNIT_AIRFLOW_PASSWORD": airflow.password()}  # fmt: skip
    env.pop("KNIT_CATALOG_URL", None)
    knit_cli = str(Path(sys.executable).with_name("knit"))

    def push(batch: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([knit_cli, "data", "push", "-t", "load:cli", *batch], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)  # fmt: skip

    batches = [sources[i : i + 5] for i in range(0, WRITES, 5)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(push, batches))
    assert [r.returncode for r in results] == [0] * len(batches), [r.stderr for r in results if r.returncode]
    wait_until(lambda: all_done(airflow, knit, plan_id), 600, f"{WRITES} pushed Runs done")
    assert airflow.components_down() == [], "no component exited"
