"""What the compose tests share: the deployment fixture's making, the remote ``knit`` CLI, and the checks run after
every fault (``knit_dev.invariants`` on the deployment's catalog, Data store and Airflow tables)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from knit_dev import invariants
from knit_dev.docker import TemporaryDockerd
from knit_dev.waiting import wait_until
from sqlalchemy import create_engine, select, text

from knit_provider.catalog.models import data_t, runs_t

from .compose_stack import ADMIN, ComposeDeployment
from .conftest import REPO
from .images import build_local_images

EXAMPLES = REPO / "examples"
FAULT_IMAGE_CONTEXT = Path(__file__).resolve().parent / "fault_image"
STEPS_IMAGE = "knit-deploy/steps:1.0"


@contextmanager
def running_deployment(dockerd: TemporaryDockerd, work: Path) -> Iterator[ComposeDeployment]:
    """Images made, the knit home prepared, ``up`` until healthy; ``down -v`` whatever happened."""
    started = time.monotonic()
    deployment = ComposeDeployment(dockerd=dockerd, images=build_local_images(dockerd))
    built = time.monotonic()
    contexts = work / "contexts"
    shutil.copytree(EXAMPLES / "first-knitfab", contexts / "first-knitfab")
    shutil.copytree(EXAMPLES / "preprocess", contexts / "preprocess")
    shutil.copytree(FAULT_IMAGE_CONTEXT, contexts / "faults")
    try:
        deployment.prepare({name: contexts / name for name in ("first-knitfab", "preprocess", "faults")})
        try:
            deployment.up()
        except Exception as exc:  # the logs of every container, or a failed start says nothing
            logs = deployment.logs()
            (work / "compose-logs.txt").write_text(logs)
            raise RuntimeError(
                f"{exc}\n--- compose logs (all: {work / 'compose-logs.txt'}) ---\n{logs[-20000:]}"
            ) from exc
        print(f"\nlocal images {built - started:.0f}s, compose build + up {time.monotonic() - built:.0f}s")
        yield deployment
    finally:
        deployment.down()


class RemoteKnit:
    """The ``knit`` CLI in remote mode: a profile naming the deployment's Airflow, made by ``knit init``."""

    def __init__(self, deployment: ComposeDeployment, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KNIT_")}
        self.env["HOME"] = str(workdir)
        self("init", "deploy", "--airflow", deployment.url, "--username", ADMIN[0], "--password", ADMIN[1])

    def __call__(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "knit"), *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"knit {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args).stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "knit"), *args],
            env=self.env,
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


class Catalog:
    """Read-only views of the deployment's catalog and Airflow's tables (PostgreSQL published on 127.0.0.1)."""

    def __init__(self, deployment: ComposeDeployment) -> None:
        self.deployment = deployment
        self.catalog = create_engine(deployment.catalog_url(), pool_pre_ping=True)
        self.metadata = create_engine(deployment.metadata_url(), pool_pre_ping=True)
        self.retries: Counter[str] = Counter()  # run id -> `knit run retry`s done: its task may run once more each

    def close(self) -> None:
        self.catalog.dispose()
        self.metadata.dispose()

    def runs_of(self, plan_id: str) -> list[Any]:
        with self.catalog.connect() as conn:
            return list(conn.execute(select(runs_t).where(runs_t.c.plan_id == plan_id).order_by(runs_t.c.created_at)))

    def run(self, run_id: str) -> Any:
        with self.catalog.connect() as conn:
            return conn.execute(select(runs_t).where(runs_t.c.run_id == run_id)).one()

    def wait_for_status(self, run_id: str, statuses: set[str], timeout: float, what: str) -> Any:
        def reached() -> Any:
            try:
                row = self.run(run_id)
            except Exception:  # the database restarting, say: ask again
                return None
            return row if row.status in statuses else None

        return wait_until(reached, timeout=timeout, what=what, interval=1)

    def wait_quiet(self, timeout: float = 600) -> None:
        """Until no Run is in flight (the checks are about a deployment at rest)."""

        def quiet() -> bool:
            try:
                with self.catalog.connect() as conn:
                    return not invariants.stuck_runs(conn)
            except Exception:
                return False

        try:
            wait_until(quiet, timeout=timeout, what="every Run ended", interval=2)
        except AssertionError:
            with self.catalog.connect() as conn:
                raise AssertionError(f"Runs stuck after {timeout:.0f}s: {invariants.stuck_runs(conn)}") from None

        def dagruns_closed() -> bool:  # Airflow closes a DagRun a few scheduler loops after its task ended
            with self.metadata.connect() as conn:
                open_ = "SELECT count(*) FROM dag_run WHERE run_id LIKE 'knit%' AND state IN ('queued', 'running')"
                return conn.execute(text(open_)).scalar_one() == 0

        with contextlib.suppress(AssertionError):  # one left open is reported by the checks, naming it
            wait_until(dagruns_closed, timeout=120, what="every DagRun closed", interval=2)

    def violations(self) -> dict[str, list[str]]:
        """Every invariant's violations, after waiting for quiet; plus steps programs that ran twice."""
        self.wait_quiet()
        with self.catalog.connect() as conn, self.metadata.connect() as meta:
            found = invariants.check_all(conn, self.deployment.data_store, meta, retries=self.retries)
        found["executed_twice"] = invariants.executed_more_than_once(self.step_logs())
        return {name: lines for name, lines in found.items() if lines}

    def data_of(self, run_id: str) -> list[str]:
        """The knit ids a Run made (its outputs and log)."""
        with self.catalog.connect() as conn:
            return list(conn.execute(select(data_t.c.knit_id).where(data_t.c.run_id == run_id)).scalars())

    def task_hostnames(self) -> dict[str, str]:
        """DagRun id -> the hostname of the worker that ran its task (Airflow's task_instance table)."""
        with self.metadata.connect() as conn:
            rows = conn.execute(text("SELECT run_id, hostname FROM task_instance WHERE run_id LIKE 'knit%'"))
            return {row.run_id: row.hostname for row in rows}

    def step_logs(self) -> list[tuple[str, str]]:
        with self.catalog.connect() as conn:
            return invariants.done_logs(conn, self.deployment.data_store)


def steps_plan(name: str, *, seconds: float, megabytes: int) -> str:
    """A Plan of the steps program on ``fault:<name>`` Data, its output tagged ``fault-out:<name>``."""
    return (
        f"image: {STEPS_IMAGE}\n"
        f"args: ['--seconds', '{seconds}', '--megabytes', '{megabytes}']\n"
        f"inputs: [{{path: /in/x, tags: ['fault:{name}']}}]\n"
        f"outputs: [{{path: /out/y, tags: ['fault-out:{name}']}}]\n"
        f"log: {{tags: ['fault-log:{name}']}}\n"
    )
