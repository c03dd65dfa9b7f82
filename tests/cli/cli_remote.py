"""The remote mode's server for the CLI tests: one real Airflow api-server serving the Knit plugin, and an empty
catalog per test.

Only ``airflow api-server`` runs (after ``airflow db migrate``), configured by ``Standalone.configure()`` as every
other deployment here, with an empty dags folder: no scheduler, no DAG, so nothing executes a Run and statuses stay
where the tests put them. The api-server still tries to start each write's Runs through Airflow's REST API; with
no DAG that is refused and the Runs stay ``waiting``, as in the local mode without an Airflow.

Emptying the catalog between tests: the api-server keeps its engine open (one per process), so the catalog file
cannot be swapped; its rows are deleted instead, in one serialized write transaction. The api-server's in-process
caches stay sound: ``catalog.projection``'s plan structures are keyed by plan id (a fresh uuid4 per Plan, never
reused), and ``catalog.data``'s cached output id of the ``knit#uploaded`` pseudo-plan stays valid because that
plan and its output are kept. Interned tags are kept too (harmless: a tag without Data matches nothing).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from knit_dev.standalone import Standalone
from sqlalchemy import delete, select

from knit_provider.catalog.engine import write_tx
from knit_provider.catalog.models import (
    UPLOAD_PLAN_ID,
    data_t,
    data_tags_t,
    hook_deliveries_t,
    input_tags_t,
    inputs_t,
    nominations_t,
    output_tags_t,
    outputs_t,
    plans_t,
    run_attempts_t,
    run_events_t,
    run_inputs_t,
    runs_t,
)
from knit_provider.service import Knit

#: the user the remote profile logs in as (SimpleAuthManager's default admin)
USER = "admin"

#: for a test of what only the local mode has (a profile pointing at a directory, KNIT_HOME): runs once, locally
LOCAL_ONLY = pytest.mark.parametrize("mode", ["local"])


class KnitApiServer(Standalone):
    """``airflow api-server`` alone, on the configuration ``airflow standalone`` would get."""

    def start(self, *, timeout: float = 180.0) -> None:
        self.configure()
        airflow = str(Path(sys.executable).with_name("airflow"))
        with self.log_file.open("ab") as log:
            subprocess.run(
                [airflow, "db", "migrate"], env=self.env(), cwd=self.airflow_home, stdout=log,
                stderr=subprocess.STDOUT, check=True, timeout=timeout,
            )  # fmt: skip
        launcher = (
            "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            "os.execv(sys.argv[1], [sys.argv[1], 'api-server'])"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", launcher, airflow],
            env=self.env(),
            cwd=self.airflow_home,
            stdout=self.log_file.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        (self.airflow_home / "standalone.pid").write_text(str(self.process.pid))
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        """Up when the Knit API answers (401: mounted, behind Airflow's auth)."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"airflow api-server exited ({self.process.returncode}); see {self.log_file}")
            try:
                urllib.request.urlopen(f"{self.url}/knit/api/data", timeout=5).close()
                last = "200 without a token"
            except urllib.error.HTTPError as err:
                if err.code == 401:
                    return
                last = err
            except OSError as err:
                last = err
            time.sleep(0.5)
        raise TimeoutError(f"the Knit API not up after {timeout:.0f}s (last: {last}); see {self.log_file}")


def empty_catalog(knit: Knit) -> None:
    """Every Plan, Run and Data gone (the ``knit#uploaded`` pseudo-plan kept), and the Data store emptied."""
    user_outputs = select(outputs_t.c.output_id).where(outputs_t.c.plan_id != UPLOAD_PLAN_ID)
    with write_tx(knit.engine) as conn:
        for table in (nominations_t, run_inputs_t, data_tags_t, data_t, run_attempts_t, run_events_t,
                      hook_deliveries_t, runs_t, input_tags_t, inputs_t):  # fmt: skip
            conn.execute(delete(table))
        conn.execute(delete(output_tags_t).where(output_tags_t.c.output_id.in_(user_outputs)))
        conn.execute(delete(outputs_t).where(outputs_t.c.plan_id != UPLOAD_PLAN_ID))
        conn.execute(delete(plans_t).where(plans_t.c.plan_id != UPLOAD_PLAN_ID))
    if knit.store.root.exists():
        for entry in knit.store.root.iterdir():
            if not entry.name.startswith("."):
                shutil.rmtree(entry)
