"""Knit on ``airflow standalone``: configure, start, wait until healthy, talk to the API, stop.

Used by the quickstart, the end-to-end tests and the latency bench, so all three run the same deployment:
SQLite metadata, LocalExecutor, parallelism 4, no example DAGs, this project's dags and plugins, short
parse intervals, the ``[knit]`` section pointing at the knit home. Subprocesses only; no Airflow import.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HEALTHY_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
#: how long a component waits for SQLite's write lock on Airflow's database before it gives up. Python's default,
#: 5 s, is too short on a busy laptop: a scheduler, triggerer or api-server that gets "database is locked" exits,
#: and ``airflow standalone`` does not start it again (seen with 80 concurrent uploads on 2 cores).
AIRFLOW_SQLITE_TIMEOUT_S = 60
COMPONENTS = ("scheduler", "triggerer", "dag-processor", "api-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Standalone:
    """One ``airflow standalone`` whose AIRFLOW_HOME is ``<knit_home>/airflow``."""

    knit_home: Path
    port: int = 8080
    runner: str = "process"
    image_maps: list[Path] = field(default_factory=list)
    dags_folder: Path = REPO / "dags"
    plugins_folder: Path = REPO / "plugins"
    parallelism: int = 4
    knit_options: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. DOCKER_HOST for the docker runner
    base_path: str = ""  # e.g. "/airflow": Airflow served under that path ([api] base_url); url includes it
    process: subprocess.Popen | None = None
    #: components started again by ``restart_component`` (standalone never restarts its own): stopped by ``stop``
    restarted: list[subprocess.Popen] = field(default_factory=list)
    _token: str | None = None

    @property
    def airflow_home(self) -> Path:
        return self.knit_home / "airflow"

    @property
    def url(self) -> str:
        """Airflow's base URL (``[api] base_url``), without a trailing slash."""
        return f"http://localhost:{self.port}{self.base_path.rstrip('/')}"

    @property
    def log_file(self) -> Path:
        return self.airflow_home / "standalone.log"

    @property
    def airflow_db_url(self) -> str:
        """Airflow's SQLite database; the timeout (SQLAlchemy passes it to ``sqlite3.connect``, for the sync and
        the aiosqlite engine alike) is the busy wait for the write lock."""
        return f"sqlite:///{self.airflow_home / 'airflow.db'}?timeout={AIRFLOW_SQLITE_TIMEOUT_S}"

    def env(self) -> dict[str, str]:
        """The environment for Airflow and for ``knit`` commands that must see the same catalog."""
        env = dict(os.environ)
        bin_dir = str(Path(sys.executable).parent)
        env.update(
            AIRFLOW_HOME=str(self.airflow_home),
            KNIT_HOME=str(self.knit_home),
            KNIT_IMAGE_MAP=os.pathsep.join(str(p) for p in self.image_maps),
            PATH=bin_dir + os.pathsep + env.get("PATH", ""),
        )
        env.update(self.extra_env)
        env.pop("KNIT_CATALOG_URL", None)
        env.pop("KNIT_PROFILE", None)
        return env

    def configure(self) -> None:
        """Write ``airflow.cfg`` (Airflow fills in every option not given)."""
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        knit = {
            "catalog_url": f"sqlite:///{self.knit_home / 'catalog.db'}",
            "knit_home": str(self.knit_home),
            "runner": self.runner,
            "image_map": os.pathsep.join(str(p) for p in self.image_maps),
            "reconcile_interval": "5",
            "redispatch_after": "5",
            **self.knit_options,
        }
        sections = {
            "core": {
                "dags_folder": str(self.dags_folder),
                "plugins_folder": str(self.plugins_folder),
                "load_examples": "False",
                "parallelism": str(self.parallelism),
                "executor": "LocalExecutor",
                "execution_api_server_url": f"{self.url}/execution/",
                "dagbag_import_timeout": "60",
            },
            "api_auth": {"jwt_secret": self._secret("jwt_secret")},
            "database": {"sql_alchemy_conn": self.airflow_db_url},
            "api": {
                "port": str(self.port),
                "base_url": self.url,
                "host": "127.0.0.1",
                "secret_key": self._secret("api_secret_key"),
            },
            "dag_processor": {"refresh_interval": "5", "min_file_process_interval": "3"},
            "scheduler": {"scheduler_heartbeat_sec": "1"},
            "triggerer": {"job_heartbeat_sec": "1"},
            "logging": {
                "base_log_folder": str(self.airflow_home / "logs"),
                "worker_log_server_port": str(free_port()),  # two standalones on one machine must not collide
                "trigger_log_server_port": str(free_port()),
            },
            "knit": knit,
        }
        lines = []
        for section, options in sections.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {value}" for key, value in options.items()]
            lines.append("")
        (self.airflow_home / "airflow.cfg").write_text("\n".join(lines))

    def _secret(self, name: str) -> str:
        """A random secret kept under the Airflow home: every component (and a restart) must share it."""
        path = self.airflow_home / f".{name}"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def __enter__(self) -> Standalone:
        """``with Standalone(...) as airflow:`` starts it (stopping whatever a failed start left) and stops it."""
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, *, timeout: float = 180.0) -> None:
        """Start in its own process group with SIGINT restored (so it can be stopped cleanly), wait for health."""
        self.configure()
        log = self.log_file.open("ab")
        launcher = (
            "import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            "os.execvp('airflow', ['airflow', 'standalone'])"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", launcher],
            env=self.env(),
            cwd=self.airflow_home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        (self.airflow_home / "standalone.pid").write_text(str(self.process.pid))
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited ({self.process.returncode}); see {self.log_file}")
            try:
                last = self._request("GET", "/api/v2/monitor/health", auth=False)
                if all(last.get(c, {}).get("status") == "healthy" for c in HEALTHY_COMPONENTS):
                    if self._catalog_made():
                        return
                    last = "healthy, the catalog not created yet"
            except (OSError, urllib.error.URLError, ValueError) as exc:
                last = exc
            time.sleep(1)
        raise TimeoutError(f"airflow standalone not healthy after {timeout:.0f}s (last: {last}); see {self.log_file}")

    def _catalog_made(self) -> bool:
        """Airflow's components create the knit home's catalog (the first DAG parse does); ``knit`` commands
        refuse a catalog that does not exist, so the set-up is ready once it does."""
        if self.knit_options.get("catalog_url"):
            return True
        return (self.knit_home / "catalog.db").is_file()

    def stop(self, timeout: float = 5.0) -> None:
        """SIGINT to the whole group (a clean shutdown), then SIGTERM, then SIGKILL whatever is left.

        After SIGINT the scheduler can wait on its idle LocalExecutor workers indefinitely; SIGTERM then ends
        the group in well under a second, so SIGINT gets only a short grace period.
        """
        for extra in self.restarted:
            _stop_group(extra, timeout)
        self.restarted.clear()
        pid_file = self.airflow_home / "standalone.pid"
        pid = self.process.pid if self.process is not None else None
        if pid is None and pid_file.exists():
            pid = int(pid_file.read_text())
        if pid is None:
            return
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(pid):
                if self.process is not None:
                    self.process.poll()
                time.sleep(0.2)
            if not _group_alive(pid):
                break
        pid_file.unlink(missing_ok=True)
        self.process = None

    # ---- the REST API ------------------------------------------------------------------------------------

    def password(self) -> str:
        generated = self.airflow_home / "simple_auth_manager_passwords.json.generated"
        return json.loads(generated.read_text())["admin"]

    def token(self) -> str:
        if self._token is None:
            reply = self._request("POST", "/auth/token", {"username": "admin", "password": self.password()}, auth=False)
            self._token = reply["access_token"]
        return self._token

    def api(self, method: str, path: str, body: Any = None) -> Any:
        return self._request(method, path, body, auth=True)

    def _request(self, method: str, path: str, body: Any = None, *, auth: bool) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token()}")
        with urllib.request.urlopen(request, timeout=30) as reply:
            text = reply.read()
        return json.loads(text) if text else None

    def dag_ids(self) -> list[str]:
        return [d["dag_id"] for d in self.api("GET", "/api/v2/dags?limit=1000")["dags"]]

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, urllib.error.URLError):  # a loaded api-server answering slowly
                missing = set(dag_ids) - set(self.dag_ids())
            if not missing:
                return
            time.sleep(1)
        raise TimeoutError(f"DAGs not parsed after {timeout:.0f}s: {sorted(missing)}")

    def dag_runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=1000")["dag_runs"]

    def restart_component(self, name: str, sig: int = signal.SIGKILL) -> subprocess.Popen:
        """Kill one component (``triggerer``, ...) and its children with ``sig`` (SIGKILL: a crash), then start a new
        one (``airflow <name>``) with the same configuration; ``stop`` stops it with the rest."""
        pid = self.component_pids()[name]
        victims = [pid, *_descendants(pid)]
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, sig)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(process_alive(v) for v in victims):
            time.sleep(0.2)
        with (self.airflow_home / f"{name}-restarted.log").open("ab") as log:
            started = subprocess.Popen(
                ["airflow", name], env=self.env(), cwd=self.airflow_home, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.restarted.append(started)
        return started

    def components_down(self) -> list[str]:
        """The components neither running in the standalone's group nor started again by ``restart_component``:
        ``airflow standalone`` never restarts one that exited (on "database is locked", say)."""
        running = set(self.component_pids())
        running |= {str(extra.args[1]) for extra in self.restarted if extra.poll() is None}
        return [name for name in COMPONENTS if name not in running]

    def component_pids(self) -> dict[str, int]:
        """The pid of each Airflow component this standalone started (``scheduler``, ``triggerer``,
        ``dag-processor``, ``api-server``), found among its process group by command line."""
        found: dict[str, int] = {}
        if self.process is None:
            return found
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) != self.process.pid:
                    continue
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, ProcessLookupError):
                continue
            words = " ".join(w.decode(errors="replace") for w in argv if w).replace("api_server", "api-server").split()
            for word, following in zip(words, words[1:], strict=False):
                if word.endswith("airflow") and following in COMPONENTS:
                    found[following] = min(found.get(following, 1 << 30), int(entry.name))
        return found


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stop_group(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM then SIGKILL to a process group started with ``start_new_session``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def process_alive(pid: int) -> bool:
    """Running (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies count as gone: look for a live member of the group
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
