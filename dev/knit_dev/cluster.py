"""Knit on Airflow's components run one by one, as a deployment runs them: several schedulers at once.

``airflow standalone`` runs exactly one scheduler on SQLite. ``AirflowCluster`` keeps Standalone's
``airflow.cfg`` (LocalExecutor, parallelism, this project's dags and plugins, short parse intervals, the
``[knit]`` section, one shared JWT secret) but points it at a given metadata database (PostgreSQL), runs
``airflow db migrate``, then starts the api-server, dag-processor, triggerer and N schedulers as separate
process groups. Subprocesses only; no Airflow import.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knit_dev.standalone import HEALTHY_COMPONENTS, Standalone, free_port

#: The components besides the schedulers, in start order: the api-server first (tasks report to it).
SERVICES = ("api-server", "dag-processor", "triggerer")


@dataclass
class AirflowCluster(Standalone):
    """``schedulers`` schedulers (LocalExecutor each) plus one api-server, dag-processor and triggerer."""

    metadata_url: str = ""
    catalog_url: str = ""  # empty: Standalone's SQLite catalog under the knit home
    schedulers: int = 2
    components: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def pid_file(self) -> Path:
        return self.airflow_home / "cluster.pids"

    def log_of(self, component: str) -> Path:
        return self.airflow_home / f"{component}.log"

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.catalog_url:
            env["KNIT_CATALOG_URL"] = self.catalog_url  # knit commands see the catalog the DAGs see
        return env

    def configure(self) -> None:
        """Standalone's ``airflow.cfg``, with the metadata database (and the catalog) swapped in."""
        if not self.metadata_url:
            raise ValueError("AirflowCluster needs metadata_url (e.g. postgresql+psycopg://user@host/airflow)")
        scheme = self.metadata_url.split("://", 1)[0]
        if scheme != "postgresql+psycopg":  # several schedulers need a real database; the URL may hold a password
            raise ValueError(f"AirflowCluster: metadata_url must be a postgresql+psycopg:// URL, not {scheme}://")
        if self.schedulers < 1:
            raise ValueError(f"AirflowCluster: schedulers must be at least 1, got {self.schedulers}")
        if self.catalog_url:
            self.knit_options = {**self.knit_options, "catalog_url": self.catalog_url}
        super().configure()
        # the async engine too: derived, it would want asyncpg; psycopg 3 (already ours) speaks both
        database = {"sql_alchemy_conn": self.metadata_url, "sql_alchemy_conn_async": self.metadata_url}
        amend_config(self.airflow_home / "airflow.cfg", {"database": database})

    def migrate(self) -> None:
        """``airflow db migrate``: the metadata schema must exist before any component starts."""
        with self.log_of("migrate").open("ab") as log:
            done = subprocess.run(
                [_airflow(), "db", "migrate"], env=self.env(), cwd=self.airflow_home, stdout=log, stderr=log
            )
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({done.returncode}); see {self.log_of('migrate')}")

    def start(self, *, timeout: float = 240.0) -> None:
        self.configure()
        self.migrate()
        for service in SERVICES:
            self._spawn(service, [service])
        for number in range(1, self.schedulers + 1):
            # LocalExecutor serves task logs from the scheduler's host: one port each, or the second one fails
            port = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            self._spawn(f"scheduler-{number}", ["scheduler"], port)
        self.pid_file.write_text(json.dumps({name: p.pid for name, p in self.components.items()}))
        self.wait_healthy(timeout)

    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        with self.log_of(name).open("ab") as log:
            self.components[name] = subprocess.Popen(
                [_airflow(), *args],
                env={**self.env(), **(extra_env or {})},
                cwd=self.airflow_home,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_healthy(self, timeout: float) -> None:
        """Every component alive, the health endpoint all green, and ``schedulers`` live scheduler jobs."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                health = self._request("GET", "/api/v2/monitor/health", auth=False)
                last = health
                if all(health.get(c, {}).get("status") == "healthy" for c in HEALTHY_COMPONENTS):
                    last = f"{self.live_schedulers()} of {self.schedulers} schedulers alive"
                    if self.live_schedulers() >= self.schedulers:
                        return
            except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
                last = exc
            time.sleep(1)
        raise TimeoutError(f"airflow cluster not healthy after {timeout:.0f}s (last: {last}); see {self.airflow_home}")

    def check_alive(self) -> None:
        """Raise naming the first component that exited (and its log)."""
        for name, process in self.components.items():
            if process.poll() is not None:
                raise RuntimeError(f"airflow {name} exited ({process.returncode}); see {self.log_of(name)}")

    def live_schedulers(self) -> int:
        jobs = self.api("GET", "/api/v2/jobs?job_type=SchedulerJob&is_alive=true&limit=100")["jobs"]
        return len(jobs)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to every component's group at once (a clean shutdown), then SIGKILL whatever is left."""
        pids = {name: p.pid for name, p in self.components.items()}
        if not pids and self.pid_file.exists():
            pids = json.loads(self.pid_file.read_text())
        for pid in pids.values():
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.components.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for pid in pids.values():  # the group leader gone, workers it forked may remain
            _signal_group(pid, signal.SIGKILL)
        for process in self.components.values():
            process.wait()
        self.components.clear()
        self.pid_file.unlink(missing_ok=True)


def amend_config(path: Path, changes: dict[str, dict[str, str]]) -> None:
    """Set options in an ``airflow.cfg`` (other sections and options kept as written)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep option names as written
    parser.read(path)
    for section, options in changes.items():
        if not parser.has_section(section):
            parser.add_section(section)
        for key, value in options.items():
            parser.set(section, key, value)
    with path.open("w") as out:
        parser.write(out)


def _airflow() -> str:
    return str(Path(sys.executable).parent / "airflow")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
