"""docker-compose.yaml brought up for real and hurt (issue 19, items 10 and 11's deployment half).

``docker-compose --profile celery up``: PostgreSQL, Redis, the api-server, scheduler, dag-processor, triggerer, two
Celery workers and flower, every Airflow service running the image built from ./Dockerfile, Runs as containers
of the same dockerd (the docker runner, through the mounted socket). Everything is made locally first, as nothing
can be pulled here (``images.py``): PostgreSQL and Redis from Debian's packages, the Airflow image from ./Dockerfile
on a locally made stand-in of apache/airflow, the examples' ``python:3.11-slim`` as a local stand-in.
Networking is compose's own bridge network on the tests' dockerd (see ``compose_stack.py``).

Examples 1 and 2 run through it with the remote ``knit`` CLI (a profile naming the Airflow). Then, each while a Run
is under way: ``kill -9`` of the Celery worker running it; a PostgreSQL restart; an api-server restart during an
upload; a full Data store (a 1 GiB tmpfs) while a Run writes its outputs. After each: no Run stuck, none run
twice, no half Data, the failed ones say why, and ``knit run retry`` finishes them.

The tests run in file order on one deployment (about 10 minutes with the image builds). On a failure, the logs of
every container are attached to the report (section "compose logs").
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from knit_dev.waiting import wait_until

from .compose_stack import ComposeDeployment
from .deployment import EXAMPLES, Catalog, RemoteKnit, running_deployment, steps_plan

pytestmark = [pytest.mark.reliability, pytest.mark.docker, pytest.mark.slow, pytest.mark.postgresql]

PROJECT = ["project:first-knitfab"]


@pytest.fixture(scope="module")
def deployment(dockerd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeDeployment]:
    with running_deployment(dockerd, tmp_path_factory.mktemp("deploy")) as running:
        yield running


@pytest.fixture(scope="module")
def knit(deployment: ComposeDeployment, tmp_path_factory: pytest.TempPathFactory) -> RemoteKnit:
    return RemoteKnit(deployment, tmp_path_factory.mktemp("remote-cli"))


@pytest.fixture(scope="module")
def catalog(deployment: ComposeDeployment) -> Iterator[Catalog]:
    views = Catalog(deployment)
    yield views
    views.close()


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("samples")
    made = {
        "qmnist-training": ["qmnist", "--split", "training"],
        "qmnist-validation": ["qmnist", "--split", "validation"],
        "imagecsv-v1": ["imagecsv", "--version", "v1"],
    }
    for name, args in made.items():
        subprocess.run([sys.executable, str(EXAMPLES / "datasets.py"), *args, str(root / name)], check=True)
    return {name: root / name for name in made}


def push(knit: RemoteKnit, folder: Path, *tags: str) -> str:
    return knit.json("data", "push", *[a for tag in tags for a in ("-t", tag)], str(folder))["knitId"]


def apply(knit: RemoteKnit, plan_file: Path) -> str:
    return knit.json("plan", "apply", str(plan_file))["planId"]


def wait_for_runs(catalog: Catalog, plan_id: str, count: int, timeout: float = 900) -> list:
    def ended() -> list | None:
        runs = catalog.runs_of(plan_id)
        finished = [r for r in runs if r.status in ("done", "failed")]
        return runs if len(finished) >= count else None

    return wait_until(ended, timeout=timeout, what=f"{count} Runs of plan {plan_id} ended", interval=2)


def test_examples_1_and_2_run_through_the_deployment_with_the_remote_cli(
    deployment: ComposeDeployment, knit: RemoteKnit, catalog: Catalog, samples: dict[str, Path]
) -> None:
    assert json.loads(knit("run", "find").stdout) == [], "a fresh deployment, through its REST API"
    train = apply(knit, EXAMPLES / "first-knitfab" / "plans" / "train.yaml")
    validation = apply(knit, EXAMPLES / "first-knitfab" / "plans" / "validation.yaml")
    push(knit, samples["qmnist-training"], "type:dataset", "mode:training", *PROJECT)
    push(knit, samples["qmnist-validation"], "type:dataset", "mode:validation", *PROJECT)
    assert [r.status for r in wait_for_runs(catalog, validation, 1)] == ["done"], catalog.runs_of(train)

    preprocess = apply(knit, EXAMPLES / "preprocess" / "plans" / "preprocess-v1.yaml")
    push(knit, samples["imagecsv-v1"], "type:data", "format:imagecsv", "version:v1.0", *PROJECT)
    assert [r.status for r in wait_for_runs(catalog, validation, 2)] == ["done", "done"]
    assert [r.status for r in catalog.runs_of(preprocess)] == ["done"]
    assert [r.status for r in catalog.runs_of(train)] == ["done", "done"]

    for run in catalog.runs_of(validation):  # the metrics, pulled back through the REST API
        metrics_id = next(o["knitId"] for o in knit.json("run", "show", run.run_id)["outputs"])
        out = knit.workdir / f"metrics-{run.run_id}"
        knit("data", "pull", "-x", metrics_id, str(out))
        metrics = json.loads(next(out.rglob("metrics.json")).read_text())
        assert metrics["accuracy"] > 0.8, metrics
    runs_by_worker = catalog.task_hostnames()
    assert len(set(runs_by_worker.values())) >= 1
    assert catalog.violations() == {}


# -- faults ---------------------------------------------------------------------------------------------------
def start_steps_run(
    knit: RemoteKnit, catalog: Catalog, tmp_path: Path, name: str, *, seconds: float, megabytes: int
) -> str:
    """Apply a steps Plan for ``name``, push its input, and return the Run's id once its program runs."""
    plan_file = tmp_path / f"{name}.yaml"
    plan_file.write_text(steps_plan(name, seconds=seconds, megabytes=megabytes))
    plan_id = apply(knit, plan_file)
    folder = tmp_path / f"input-{name}"
    folder.mkdir()
    (folder / "n.txt").write_text(name)
    push(knit, folder, f"fault:{name}")
    (run,) = wait_until(lambda: catalog.runs_of(plan_id), timeout=60, what=f"the {name} Run exists")
    catalog.wait_for_status(run.run_id, {"running"}, timeout=600, what=f"the {name} Run running")
    return run.run_id


def retry_until_done(knit: RemoteKnit, catalog: Catalog, run_id: str) -> None:
    knit("run", "retry", run_id)
    catalog.retries[run_id] += 1
    ended = catalog.wait_for_status(run_id, {"done", "failed"}, timeout=600, what=f"the retried Run {run_id} ended")
    assert ended.status == "done", f"the retry failed too: exit {ended.exit_code} {ended.exit_message}"


def assert_failed_with_a_reason(catalog: Catalog, run_id: str, timeout: float = 600) -> object:
    ended = catalog.wait_for_status(run_id, {"done", "failed"}, timeout=timeout, what=f"Run {run_id} ended")
    assert ended.status == "failed", "the Run could not have finished whole"
    assert ended.exit_code and (ended.exit_message or "").strip(), (ended.exit_code, ended.exit_message)
    print(f"\nRun {run_id} failed: exit {ended.exit_code}: {ended.exit_message}")
    return ended


def test_a_celery_worker_killed_with_sigkill_mid_run(
    deployment: ComposeDeployment, knit: RemoteKnit, catalog: Catalog, tmp_path: Path
) -> None:
    run_id = start_steps_run(knit, catalog, tmp_path, "worker", seconds=45, megabytes=4)
    hostname = wait_until(
        lambda: catalog.task_hostnames().get(f"knit__{run_id}"), timeout=60, what="the worker running the task"
    )
    worker = deployment.container_of_hostname(hostname)
    assert worker, f"no worker container is {hostname!r}: {deployment.containers('airflow-worker')}"
    deployment.kill_9(worker)
    assert_failed_with_a_reason(catalog, run_id)
    deployment.wait_healthy()  # the worker is back (restart: always)
    assert len(deployment.containers("airflow-worker")) == 2
    assert catalog.violations() == {}
    retry_until_done(knit, catalog, run_id)
    assert catalog.violations() == {}


def test_postgresql_restarted_mid_run(
    deployment: ComposeDeployment, knit: RemoteKnit, catalog: Catalog, tmp_path: Path
) -> None:
    run_id = start_steps_run(knit, catalog, tmp_path, "postgres", seconds=30, megabytes=4)
    deployment.restart("postgres")
    deployment.wait_healthy()
    ended = catalog.wait_for_status(run_id, {"done", "failed"}, timeout=600, what="the Run ended after the restart")
    print(f"\nthe Run across a PostgreSQL restart: {ended.status} (exit {ended.exit_code} {ended.exit_message})")
    if ended.status == "failed":
        assert ended.exit_code and (ended.exit_message or "").strip(), "a failed Run says why"
        assert catalog.violations() == {}
        retry_until_done(knit, catalog, run_id)
    assert catalog.violations() == {}


def test_the_api_server_restarted_during_an_upload(
    deployment: ComposeDeployment, knit: RemoteKnit, catalog: Catalog, tmp_path: Path
) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for number in range(8):  # 200 MiB that does not compress: the upload takes a few seconds
        (big / f"part-{number:02d}.bin").write_bytes(os.urandom(25 << 20))
    staging = deployment.data_store / ".staging"
    upload = knit.popen("data", "push", "-t", "fault:upload", str(big))
    wait_until(
        lambda: upload.poll() is not None or tree_size(staging) > (5 << 20),
        timeout=120,
        what="the upload under way",
        interval=0.1,
    )
    assert upload.poll() is None, f"the upload ended before the restart: {upload.communicate()}"
    deployment.restart("airflow-apiserver", abrupt=True)  # a graceful stop would let the upload finish
    out, err = upload.communicate(timeout=300)
    assert upload.returncode == 1, (upload.returncode, out, err)
    message = err.strip().splitlines()[-1]  # after the progress lines: one line naming the Airflow
    assert message.startswith("knit: ") and deployment.url in message, err
    deployment.wait_healthy()
    assert knit.json("data", "find", "-t", "fault:upload") == [], "no half Data"
    assert catalog.violations() == {}

    knit_id = push(knit, big, "fault:upload")  # the same upload, again, is whole
    pulled = tmp_path / "pulled"
    knit("data", "pull", "-x", knit_id, str(pulled))
    for part in big.iterdir():
        assert next(pulled.rglob(part.name)).read_bytes() == part.read_bytes(), part.name
    assert catalog.violations() == {}


def test_a_full_data_store_while_a_run_writes_its_outputs(
    deployment: ComposeDeployment, knit: RemoteKnit, catalog: Catalog, tmp_path: Path
) -> None:
    run_id = start_steps_run(knit, catalog, tmp_path, "full", seconds=20, megabytes=40)
    outputs = [d for d in catalog.data_of(run_id)]
    wait_until(
        lambda: sum(tree_size(deployment.data_store / k) for k in outputs) > (4 << 20),
        timeout=120,
        what="the Run writing its outputs",
    )
    ballast = deployment.data_store / ".ballast"
    fill(ballast)
    try:
        assert_failed_with_a_reason(catalog, run_id)
    finally:
        ballast.unlink()
    assert catalog.violations() == {}
    retry_until_done(knit, catalog, run_id)
    (output,) = [k for k in catalog.data_of(run_id) if (deployment.data_store / k / "payload.bin").exists()]
    assert (deployment.data_store / output / "payload.bin").stat().st_size == 40 << 20, "whole, after the retry"
    assert catalog.violations() == {}


def tree_size(root: Path) -> int:
    if not root.exists():
        return 0
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(dirpath) / name).stat().st_size
    return total


def fill(path: Path) -> None:
    """Write ``path`` until its filesystem is full."""
    chunk = b"\0" * (1 << 20)
    with open(path, "wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
