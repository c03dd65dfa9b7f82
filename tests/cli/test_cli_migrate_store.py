"""``knit admin migrate-store --to URL``: a deployment's Data moved from its local store to S3 (moto), verified,
then switched in the catalog, so every component uses S3 from then on; killed half way, nothing is lost and running
it again finishes the job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from knit_dev.s3 import MotoServer

from knit_provider.service import Knit, StoreSpec, data
from knit_provider.storage import LocalStore
from knit_provider.storage.objects import ObjectStore

pytestmark = pytest.mark.object_store

KNIT = str(Path(sys.executable).with_name("knit"))


@pytest.fixture
def deployment(tmp_path: Path, s3_server: MotoServer, s3_url: str):
    home = tmp_path / "home"
    env = {**os.environ, **s3_server.env, "KNIT_HOME": str(home)}
    for key in ("KNIT_CATALOG_URL", "KNIT_DATA_STORE", "KNIT_PROFILE_STORE"):
        env.pop(key, None)
    env["KNIT_PROFILE_STORE"] = str(tmp_path / "profiles")

    def knit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([KNIT, *args], env=env, capture_output=True, text=True, cwd=tmp_path)

    with Knit.open(home=home) as opened:
        assert isinstance(opened.store, LocalStore)
    return knit, env, home


def push_many(home: Path, tmp_path: Path, count: int, files: int = 1) -> list[str]:
    ids = []
    with Knit.open(home=home, store=StoreSpec()) as knit:
        for i in range(count):
            source = tmp_path / "src" / str(i)
            source.mkdir(parents=True)
            for j in range(files):
                (source / f"{j}.txt").write_text(f"data {i} file {j}\n")
            ids.append(data.push_dir(knit, source, [f"n:{i}"])["knitId"])
    return ids


def test_every_data_moves_verified_and_the_deployment_switches(deployment, tmp_path, s3_url):
    knit, _env, home = deployment
    ids = push_many(home, tmp_path, 3)
    purged = knit("data", "purge", ids[2])
    assert purged.returncode == 0, purged.stderr
    moved = knit("admin", "migrate-store", "--to", s3_url)
    assert moved.returncode == 0, moved.stderr
    report = json.loads(moved.stdout)
    assert (report["data"], report["copied"], report["switched"], report["to"]) == (2, 2, True, s3_url)

    with Knit.open(home=home, store=StoreSpec()) as reopened:  # configured: the local store; the catalog wins
        assert isinstance(reopened.store, ObjectStore) and reopened.store.url == s3_url
        for knit_id in ids[:2]:
            assert reopened.store.exists(knit_id)
        assert not reopened.store.exists(ids[2]), "a purged Data has nothing to move"
    LocalStore(home / "data").delete(ids[0])  # the old store could go now
    pulled = knit("data", "pull", "-x", ids[0], str(tmp_path / "out"))
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "out" / ids[0] / "0.txt").read_text() == "data 0 file 0\n"
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "f.txt").write_text("after the move")
    pushed = knit("data", "push", "-t", "n:new", str(tmp_path / "new"))
    assert pushed.returncode == 0, pushed.stderr
    new_id = json.loads(pushed.stdout)["knitId"]
    assert not (home / "data" / new_id).exists(), "new Data go to the new store"
    again = knit("admin", "migrate-store", "--to", s3_url)
    assert again.returncode == 1 and "already" in again.stderr


def test_a_migration_killed_half_way_loses_nothing_and_resumes(deployment, tmp_path, s3_server, s3_url):
    knit, env, home = deployment
    ids = push_many(home, tmp_path, 40, files=40)
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    migration = subprocess.Popen([KNIT, "admin", "migrate-store", "--to", s3_url], env=env, cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and migration.poll() is None:
        if len(s3_server.keys(bucket, f"{prefix}/manifests/")) >= 3:
            break
        time.sleep(0.05)
    assert migration.poll() is None, "killed while copying"
    migration.send_signal(signal.SIGKILL)
    migration.wait()
    copied_before = len(s3_server.keys(bucket, f"{prefix}/manifests/"))
    assert 3 <= copied_before < len(ids)

    with Knit.open(home=home, store=StoreSpec()) as reopened:
        assert isinstance(reopened.store, LocalStore), "not switched: the old store still serves everything"
        assert all(reopened.store.exists(k) for k in ids)
    resumed = knit("admin", "migrate-store", "--to", s3_url)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["alreadyThere"] >= copied_before and report["copied"] + report["alreadyThere"] == len(ids)
    with Knit.open(home=home, store=StoreSpec()) as reopened:
        assert isinstance(reopened.store, ObjectStore)
        for knit_id in ids:
            assert reopened.store.measure(knit_id) == LocalStore(home / "data").measure(knit_id)
