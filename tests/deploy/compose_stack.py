"""docker-compose.yaml brought up for real, on the tests' own dockerd: build, up, wait, hurt, look, bring down.

The deployment runs with ``--profile celery`` (CeleryExecutor, Redis, two workers, flower) and the docker runner,
whose Runs are containers of the same daemon (its socket is mounted into the Airflow containers). Networking is
compose's own bridge network: the tests' dockerd runs with ``--bridge=none --iptables=false``, which leaves
user-defined bridge networks working (service names resolve through docker's embedded DNS) while nothing is
routed off this machine (no NAT, IPv4 forwarding stays off). Ports are published on 127.0.0.1 only.

The knit home (``KNIT_HOME_DIR``) is a temporary host directory, mounted at the same path in every Airflow
container, with a small tmpfs as its Data store so that a test can fill it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from knit_dev.docker import TemporaryDockerd
from knit_dev.standalone import free_port

from .conftest import COMPOSE_FILE, COMPOSE_VARIABLES, REPO, compose_command
from .images import LocalImages
from .wheelhouse import installed_version

OVERRIDE_FILE = Path(__file__).resolve().parent / "docker-compose.test.yaml"
ADMIN = ("airflow", "airflow")  # the compose file's default login
WORKERS = 2
DATA_STORE_SIZE = "1g"


@dataclass
class ComposeDeployment:
    dockerd: TemporaryDockerd
    images: LocalImages
    project: str = field(default_factory=lambda: f"knitdeploy{os.getpid()}")
    api_port: int = field(default_factory=free_port)
    postgres_port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="knit-deploy-")))

    @property
    def knit_home(self) -> Path:
        return self.root / "home"

    @property
    def data_store(self) -> Path:
        return self.knit_home / "data"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def catalog_url(self) -> str:
        return f"postgresql+psycopg://airflow:airflow@127.0.0.1:{self.postgres_port}/knit"

    def metadata_url(self) -> str:
        return f"postgresql+psycopg://airflow:airflow@127.0.0.1:{self.postgres_port}/airflow"

    # -- the compose CLI ----------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES}
        return {
            **clean,
            "DOCKER_HOST": self.dockerd.host,
            "COMPOSE_PROJECT_NAME": self.project,
            "DOCKER_BUILDKIT": "0",  # the classic builder: nothing to pull, no buildx plugin needed
            "COMPOSE_DOCKER_CLI_BUILD": "0",
            "AIRFLOW_UID": "50000",
            "AIRFLOW_EXECUTOR": "CeleryExecutor",
            "AIRFLOW_API_PORT": f"127.0.0.1:{self.api_port}",
            "FLOWER_PORT": f"127.0.0.1:{free_port()}",
            "KNIT_HOME_DIR": str(self.knit_home),
            "DOCKER_SOCKET": self.dockerd.host.removeprefix("unix://"),
            "DOCKER_GID": str(os.stat(self.dockerd.host.removeprefix("unix://")).st_gid),
            "KNIT_KUBE_DIR": str(self.root / "kube"),
            "KNIT_IMAGE_MAP": ":".join(str(p) for p in self.image_maps()),
            "KNIT_TEST_AIRFLOW_VERSION": installed_version("apache-airflow"),
            "KNIT_TEST_AIRFLOW_BASE": self.images.airflow_base,
            "KNIT_TEST_DOCKER_CLI": self.images.docker_cli,
            "KNIT_TEST_POSTGRES": self.images.postgres,
            "KNIT_TEST_REDIS": self.images.redis,
            "KNIT_TEST_POSTGRES_PORT": str(self.postgres_port),
        }

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command = [*compose_command(), "--project-directory", str(REPO), "-f", str(COMPOSE_FILE)]
        command += ["-f", str(OVERRIDE_FILE), "--profile", "celery", *args]
        done = subprocess.run(
            command, env=self.env(), capture_output=True, text=True, cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"docker-compose {' '.join(args)} failed ({done.returncode}): {done.stderr[-3000:]}")
        return done

    def image_maps(self) -> list[Path]:
        return sorted((self.knit_home / "images").glob("*/images.yaml"))

    # -- life cycle ---------------------------------------------------------------------------------------------
    def prepare(self, build_contexts: dict[str, Path]) -> None:
        """The knit home with a small tmpfs as its Data store, and the image maps' build contexts in it (the
        containers see only the knit home). ``build_contexts``: name -> a directory holding ``images.yaml``."""
        self.data_store.mkdir(parents=True)
        (self.root / "kube").mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DATA_STORE_SIZE},mode=0755", "knit-data", str(self.data_store)],
            check=True,
            capture_output=True,
        )
        for name, context in build_contexts.items():
            shutil.copytree(context, self.knit_home / "images" / name, symlinks=False)

    def up(self, timeout: float = 900) -> None:
        self.compose("build", "airflow-init", timeout=900)  # one image for every Airflow service
        self.compose("up", "-d", "--no-build", "--scale", f"airflow-worker={WORKERS}", timeout=timeout)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 480) -> None:
        """Every long-running container healthy, and Airflow's health endpoint all green."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            states = self.health()
            unhealthy = {name: state for name, state in states.items() if state not in ("healthy", "exited(0)")}
            last = f"containers not healthy: {unhealthy}" if unhealthy else last
            if not unhealthy and len(states) >= 8:
                try:
                    health = self.get_json("/api/v2/monitor/health")
                    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
                    if all(health.get(part, {}).get("status") == "healthy" for part in parts):
                        return
                    last = f"Airflow's health: {health}"
                except (OSError, urllib.error.URLError, ValueError) as exc:
                    last = f"the api-server: {exc}"
            time.sleep(2)
        raise TimeoutError(f"the deployment is not healthy after {timeout:.0f}s: {last}")

    def health(self) -> dict[str, str]:
        """Container name -> its health (or ``exited(N)`` / its state when it has no healthcheck)."""
        ids = self.compose("ps", "-q").stdout.split()
        if not ids:
            return {}
        template = "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}} "
        template += "{{.State.ExitCode}}"
        done = self.dockerd.docker("inspect", "--format", template, *ids, check=False)
        states = {}
        for line in done.stdout.splitlines():
            name, state, code = line.split()
            states[name.lstrip("/")] = f"exited({code})" if state == "exited" else state
        return states

    def logs(self) -> str:
        """Every container's log (compose's, all services, timestamps), for a failure report."""
        done = self.compose("logs", "--no-color", "--timestamps", check=False, timeout=120)
        return done.stdout + done.stderr

    def down(self) -> None:
        """``docker-compose down -v`` (containers, the network and its bridge, volumes), Runs' containers, the
        tmpfs and the knit home; each step even if the one before failed."""
        label = f"label=com.docker.compose.project={self.project}"
        networks = self.dockerd.docker("network", "ls", "-q", "--filter", label, check=False).stdout.split()
        with contextlib.suppress(Exception):
            self.compose("down", "-v", "--remove-orphans", "--timeout", "10", check=False, timeout=300)
        runs = self.dockerd.docker("ps", "-aq", "--filter", "label=knit.run-id", check=False).stdout.split()
        if runs:
            self.dockerd.docker("rm", "-f", *runs, check=False)
        for network in networks:  # a bridge the daemon could not remove would outlive it on the host
            subprocess.run(["ip", "link", "delete", f"br-{network[:12]}"], capture_output=True)
        subprocess.run(["umount", "-l", str(self.data_store)], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- looking and hurting ------------------------------------------------------------------------------------
    def containers(self, service: str) -> list[str]:
        """The running containers of a service (ids), in a stable order."""
        return sorted(self.compose("ps", "-q", service).stdout.split())

    def main_pid(self, container: str) -> int:
        """The host pid of the container's command: the child of its init (dumb-init)."""
        init = int(self.dockerd.docker("inspect", "--format", "{{.State.Pid}}", container).stdout)
        children = Path(f"/proc/{init}/task/{init}/children").read_text().split()
        if not children:
            raise RuntimeError(f"container {container} runs no command under its init (pid {init})")
        return int(children[0])

    def kill_9(self, container: str) -> int:
        """``kill -9`` the container's command (a Celery worker's main process, say); returns the pid killed."""
        pid = self.main_pid(container)
        os.kill(pid, signal.SIGKILL)
        return pid

    def restart(self, service: str, *, abrupt: bool = False) -> None:
        """``docker restart`` of the service's containers: SIGTERM, or with ``abrupt`` SIGKILL at once (a crash:
        no graceful shutdown that would let requests in flight finish first)."""
        containers = self.containers(service)
        assert containers, f"{service} has no container"
        self.dockerd.docker("restart", "--time", "0" if abrupt else "10", *containers, timeout=180)

    def container_of_hostname(self, hostname: str) -> str | None:
        """The container whose hostname Airflow recorded for a task (Celery workers' hostnames are their ids)."""
        for container in self.containers("airflow-worker"):
            if container.startswith(hostname) or hostname.startswith(container[:12]):
                return container
        return None

    # -- Airflow's REST API as the admin ------------------------------------------------------------------------
    def token(self) -> str:
        body = json.dumps({"username": ADMIN[0], "password": ADMIN[1]}).encode()
        request = urllib.request.Request(
            f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.load(reply)["access_token"]

    def get_json(self, path: str, *, auth: bool = False) -> dict:
        headers = {"Authorization": f"Bearer {self.token()}"} if auth else {}
        request = urllib.request.Request(f"{self.url}{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.load(reply)
