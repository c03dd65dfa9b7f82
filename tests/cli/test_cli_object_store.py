"""``knit data push/pull/purge`` and ``knit admin doctor`` with Data on S3 (the session's moto server), in both
modes: locally the CLI reaches the store itself (``KNIT_DATA_STORE`` and the standard ``AWS_*`` variables); remotely
the api-server streams to its store, whose credentials and endpoint come only from an Airflow connection
(``[knit] data_store_conn_id``, resolved through ``ObjectStoragePath``). A push killed mid-upload leaves no Data,
and the doctor sweeps what it staged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_remote import USER, KnitApiServer
from knit_dev.s3 import MotoServer
from knit_dev.standalone import free_port

from knit_provider.service import Knit

pytestmark = pytest.mark.object_store

SERVER_PREFIX = "served"


class _S3ApiServer(KnitApiServer):
    """An api-server whose Data store is on S3 through an Airflow connection: no AWS variable reaches it."""

    def env(self) -> dict[str, str]:
        env = super().env()
        for key in [k for k in env if k.startswith("AWS_") or k.startswith("KNIT_DATA_STORE")]:
            del env[key]
        return env


@pytest.fixture(scope="module")
def s3_knit_server(s3_server: MotoServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_S3ApiServer]:
    bucket = s3_server.bucket("knit-cli-remote")
    server = _S3ApiServer(
        knit_home=tmp_path_factory.mktemp("s3-server-home"),
        port=free_port(),
        dags_folder=tmp_path_factory.mktemp("no-dags"),
        knit_options={"data_store": f"s3://{bucket}/{SERVER_PREFIX}", "data_store_conn_id": "knit_s3"},
        extra_env={"AIRFLOW_CONN_KNIT_S3": s3_server.airflow_connection()},
    )
    with server:
        yield server


@pytest.fixture(params=["local", pytest.param("remote", marks=pytest.mark.e2e)])
def s3_cli(request, run_knit, s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(invoke, bucket, prefix): ``knit`` in a working directory whose Data go to S3, locally or remotely."""
    invoke = run_knit
    if request.param == "remote":
        server = request.getfixturevalue("s3_knit_server")
        made = invoke("init", "--airflow", server.url, "--username", USER, "--password", server.password(), "r")
        assert made.code == 0, made.stderr
        return invoke, "knit-cli-remote", SERVER_PREFIX
    monkeypatch.setenv("KNIT_DATA_STORE", s3_url)
    made = invoke("init", "--home", str(tmp_path / "home"), "local")
    assert made.code == 0 and f"Data in {s3_url}" in made.stderr, made.stderr
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    return invoke, bucket, prefix


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_push_and_pull_go_through_the_store_with_progress(s3_cli, s3_server: MotoServer, tmp_path: Path):
    knit, bucket, prefix = s3_cli
    source = Path("dataset")
    (source / "parts").mkdir(parents=True)
    (source / "big.bin").write_bytes(os.urandom(9 << 20))  # above the bar's threshold, two upload parts
    for i in range(30):
        (source / "parts" / f"{i}.txt").write_text(f"part {i}\n")
    pushed = knit("data", "push", "-t", "type:s3", str(source))
    assert pushed.code == 0, pushed.stderr
    assert "dataset" in pushed.stderr and "MB/s" in pushed.stderr, "a progress bar for a large push"
    knit_id = pushed.json()["knitId"]
    assert f"{prefix}/manifests/{knit_id}.json" in s3_server.keys(bucket, f"{prefix}/manifests/")

    pulled = knit("data", "pull", "-x", knit_id, str(tmp_path / "out"))
    assert pulled.code == 0, pulled.stderr
    assert f"pulling {knit_id}" in pulled.stderr, "a progress bar for a large pull"
    assert tree(tmp_path / "out" / knit_id) == tree(source)
    saved = knit("data", "pull", knit_id, str(tmp_path / "tar"))
    assert saved.code == 0, saved.stderr
    with tarfile.open(tmp_path / "tar" / f"{knit_id}.tar.gz") as archive:
        assert archive.extractfile("big.bin").read() == (source / "big.bin").read_bytes()  # type: ignore[union-attr]

    purged = knit("data", "purge", knit_id)
    assert purged.code == 0, purged.stderr
    assert not [k for k in s3_server.keys(bucket, prefix) if knit_id in k], "purge deletes the objects"
    gone = knit("data", "pull", knit_id, str(tmp_path / "again"))
    assert gone.code == 1 and "purged" in gone.stderr


def test_a_push_killed_mid_upload_leaves_no_data_and_the_doctor_sweeps_it(
    s3_server: MotoServer, s3_url: str, tmp_path: Path
) -> None:
    """A real ``knit data push`` process, ``kill -9``'d once its objects are landing: no Data in the catalog, no
    manifest in the store, and ``knit admin doctor --fix`` removes the staged objects."""
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    home = tmp_path / "home"
    env = {**os.environ, "KNIT_HOME": str(home), "KNIT_DATA_STORE": s3_url, **s3_server.env}
    env.pop("KNIT_CATALOG_URL", None)
    Knit.open(home=home).close()
    source = tmp_path / "many"
    source.mkdir()
    for i in range(3000):
        (source / f"{i:05}.txt").write_bytes(os.urandom(2048))
    knit = str(Path(sys.executable).with_name("knit"))
    push = subprocess.Popen([knit, "data", "push", "-t", "type:killed", str(source)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and push.poll() is None:
        landed = [k for k in s3_server.keys(bucket, f"{prefix}/staging/") if not k.endswith(".alive")]
        if len(landed) >= 20:
            break
        time.sleep(0.02)
    assert push.poll() is None, "the push was still uploading when killed"
    push.send_signal(signal.SIGKILL)
    push.wait()
    assert s3_server.keys(bucket, f"{prefix}/staging/"), "objects were staged"
    assert s3_server.keys(bucket, f"{prefix}/manifests/") == [], "no manifest: nothing looks complete"

    run = lambda *args: subprocess.run([knit, *args], env=env, capture_output=True, text=True, cwd=tmp_path)  # noqa: E731
    found = run("data", "find", "-t", "type:killed")
    assert found.returncode == 0 and found.stdout.strip() == "[]"
    listed = run("admin", "doctor", "--older-than", "0s")
    assert listed.returncode == 0 and "1 orphaned staging directory" in listed.stderr, listed.stderr
    fixed = run("admin", "doctor", "--older-than", "0s", "--fix")
    assert fixed.returncode == 0 and "removed 1" in fixed.stderr, fixed.stderr
    assert s3_server.keys(bucket, prefix) == []
