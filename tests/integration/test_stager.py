"""The stager a Run's pod runs (``python -m knit_provider.stager``), as real processes against S3 (moto): the
init container's fetch (verified), and the sidecar's upload, which waits for SIGTERM and commits the outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from knit_provider.service import StoreSpec
from knit_provider.storage.objects import ObjectStore

pytestmark = pytest.mark.object_store


def stager(*args: str, env: dict[str, str], **options) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "knit_provider.stager", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)  # fmt: skip


@pytest.fixture
def store(s3_url: str, tmp_path: Path) -> ObjectStore:
    opened = StoreSpec(url=s3_url).open(tmp_path / "home")
    assert isinstance(opened, ObjectStore)
    return opened


@pytest.fixture
def env(s3_url: str) -> dict[str, str]:
    return {**os.environ, "KNIT_DATA_STORE": s3_url}


def test_fetch_writes_each_input_into_its_directory_verified(store, env, tmp_path, s3_server, s3_url):
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "a.txt").write_text("alpha")
    store.import_dir(source, "in-1")
    done = stager("fetch", f"in-1={tmp_path / 'pod' / 'in-1'}", env=env)
    out, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    assert (tmp_path / "pod" / "in-1" / "sub" / "a.txt").read_text() == "alpha"

    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    (key,) = [k for k in s3_server.keys(bucket, f"{prefix}/staging/in-1/") if not k.endswith(".alive")]
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=b"damaged")
    failed = stager("fetch", f"in-1={tmp_path / 'again'}", env=env)
    _, err = failed.communicate(timeout=60)
    assert failed.returncode == 1 and "does not match its manifest" in err.strip().splitlines()[-1]
    missing = stager("fetch", f"nothing={tmp_path / 'none'}", env=env)
    _, err = missing.communicate(timeout=60)
    assert missing.returncode == 1 and "has no content in the store" in err


def test_the_sidecar_uploads_only_once_stopped_and_commits_each_output(store, env, tmp_path):
    out = tmp_path / "pod" / "out-1"
    sidecar = stager("upload", "--on-term", f"out-1={out}", f"out-2={tmp_path / 'pod' / 'out-2'}", env=env)
    deadline = time.monotonic() + 30
    while not out.is_dir() and time.monotonic() < deadline:
        time.sleep(0.05)
    (out / "result.txt").write_text("the program's output")  # the program writes while the sidecar waits
    time.sleep(0.5)
    assert sidecar.poll() is None and not store.exists("out-1"), "nothing is uploaded while the program runs"
    sidecar.send_signal(signal.SIGTERM)  # kubelet, once the program ended
    _, err = sidecar.communicate(timeout=60)
    assert sidecar.returncode == 0, err
    assert store.measure("out-1").files == 1 and store.measure("out-2").files == 0, "an untouched output is empty"
    again = stager("upload", f"out-1={out}", env=env)
    output, _ = again.communicate(timeout=60)
    assert again.returncode == 0 and "committed already" in output
