"""A throw-away Docker daemon and a locally made Python base image, for tests and ``bench/``.

``TemporaryDockerd`` starts Debian's ``dockerd`` by hand with everything (data, exec root, socket) under a
temporary directory and no networking, so tests run against a real daemon without touching the host's.
Nothing can be pulled here: ``build_debian_python_image`` makes a Debian rootfs with python3 by ``debootstrap``
(cached as a tarball, so only the first session pays for it) and ``docker import``s it.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "DEBIAN_PYTHON_IMAGE",
    "DockerUnavailable",
    "TemporaryDockerd",
    "build_debian_image",
    "build_debian_python_image",
    "debian_mirror",
    "debian_rootfs",
    "find_docker_client",
]

DEBIAN_PYTHON_IMAGE = "knit-test/debian-python:bookworm"
_TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists", "var/cache/apt")


class DockerUnavailable(RuntimeError):
    """dockerd, the docker client or debootstrap is not installed, or the daemon did not come up."""


def find_docker_client() -> str:
    for candidate in (shutil.which("docker"), "/usr/local/bin/docker", "/usr/bin/docker"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise DockerUnavailable("the docker client is not installed (apt-get install docker.io)")


def _find_dockerd() -> str:
    for candidate in ("/usr/bin/dockerd", "/usr/sbin/dockerd", shutil.which("dockerd")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise DockerUnavailable("dockerd is not installed: apt-get install docker.io")


class TemporaryDockerd:
    """``with TemporaryDockerd() as d: d.docker("info")``; ``d.host`` is its ``unix://`` socket."""

    def __init__(self, *, storage_drivers: Sequence[str] = ("overlay2", "vfs")) -> None:
        self.dockerd = _find_dockerd()
        self.client = find_docker_client()
        self.storage_drivers = tuple(storage_drivers)
        self.root = Path(tempfile.mkdtemp(prefix="knit-dockerd-"))  # short: socket paths are limited to 108 bytes
        self.host = f"unix://{self.root}/docker.sock"
        self.log_path = self.root / "dockerd.log"
        self.storage_driver: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        """The client command line for this daemon: ``[*d.command, "ps"]``."""
        return [self.client, "-H", self.host]

    def docker(self, *args: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("capture_output", True)
        return subprocess.run([*self.command, *args], check=check, text=True, **kwargs)  # type: ignore[call-overload]

    def start(self, timeout: float = 60.0) -> TemporaryDockerd:
        failures: list[str] = []
        for driver in self.storage_drivers:
            if self._start_with(driver, timeout):
                self.storage_driver = driver
                return self
            failures.append(f"{driver}: {self._log_tail()}")
            self._stop_daemon()
        self.stop()
        raise DockerUnavailable("dockerd did not start: " + " | ".join(failures))

    def _start_with(self, driver: str, timeout: float) -> bool:
        data = self.root / f"data-{driver}"
        args = [
            self.dockerd,
            f"--data-root={data}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host={self.host}",
            "--iptables=false",
            "--bridge=none",
            f"--storage-driver={driver}",
        ]
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            if Path(self.host.removeprefix("unix://")).exists():
                done = self.docker("info", "--format", "{{.Driver}}", check=False)
                if done.returncode == 0 and done.stdout.strip() == driver:
                    return True
            time.sleep(0.2)
        return False

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
            errors = [line for line in lines if "level=error" in line or "level=fatal" in line or "failed" in line]
            return (errors or lines or ["(no output)"])[-1][-300:]
        return "(no log)"

    def _stop_daemon(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)  # dockerd stops its containers and its containerd, unmounts layers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        self._stop_daemon()
        self._unmount_leftovers()
        shutil.rmtree(self.root, ignore_errors=True)

    def _unmount_leftovers(self) -> None:
        """Mounts a killed daemon left under our root (overlay layers, netns, shm) would make rmtree fail."""
        with contextlib.suppress(OSError):
            mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
            prefix = str(self.root) + "/"
            for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
                subprocess.run(["umount", "-l", target], capture_output=True)

    def __enter__(self) -> TemporaryDockerd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------------------------------------------------------
# images


def debian_mirror(default: str = "http://deb.debian.org/debian") -> str:
    """The host's Debian mirror (the only package source reachable here), from its apt sources."""
    candidates: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/etc/apt/sources.list").read_text().splitlines():
            parts = line.split("#", 1)[0].split()
            if len(parts) >= 3 and parts[0] == "deb":
                uri = next((p for p in parts[1:] if not p.startswith("[")), "")
                candidates.append(uri)
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with contextlib.suppress(OSError):
            for stanza in re.split(r"\n\s*\n", Path(path).read_text()):
                fields = dict(
                    (key.strip().lower(), value.strip())
                    for key, _, value in (line.partition(":") for line in stanza.splitlines())
                    if not key.startswith("#") and value
                )
                if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
                    candidates.extend(fields.get("uris", "").split())
    usable = [c for c in candidates if c.startswith(("http://", "https://")) and "security" not in c]
    return usable[0].rstrip("/") if usable else default


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "knit-test"


def debian_python_rootfs(cache_dir: Path | None = None, *, suite: str = "bookworm", mirror: str | None = None) -> Path:
    """A trimmed Debian ``minbase`` rootfs with python3, as a tarball; made once (about a minute), then cached."""
    return debian_rootfs(("python3",), cache_dir, suite=suite, mirror=mirror)  # not -minimal: that has no json


def debian_rootfs(
    packages: Sequence[str], cache_dir: Path | None = None, *, suite: str = "bookworm", mirror: str | None = None
) -> Path:
    """A trimmed Debian ``minbase`` rootfs with ``packages`` (and what they depend on), as a tarball, cached by name.

    Several can be made at once (one lock per tarball): the deployment tests make two in parallel.
    """
    cache = Path(cache_dir) if cache_dir else _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    wanted = sorted(packages)
    name = "-".join(wanted) if len(wanted) <= 2 else hashlib.sha256(" ".join(wanted).encode()).hexdigest()[:12]
    tarball = cache / f"debian-{suite}-{name}-rootfs.tar"
    with open(cache / f".lock-{tarball.stem}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent test sessions: one builds, the others wait and reuse
        if tarball.exists():
            return tarball
        debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
        if not os.access(debootstrap, os.X_OK):
            raise DockerUnavailable("debootstrap is not installed: apt-get install debootstrap")
        if os.geteuid() != 0:
            raise DockerUnavailable("debootstrap needs root to make the python base image")
        work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache))
        try:
            root = work / "root"
            done = subprocess.run(
                [
                    debootstrap,
                    "--variant=minbase",
                    f"--include={','.join(packages)}",
                    suite,
                    str(root),
                    mirror or debian_mirror(),
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise DockerUnavailable(
                    f"debootstrap failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}"
                )
            for relative in _TRIM:
                target = root / relative
                if target.is_dir():
                    shutil.rmtree(target)
                    target.mkdir()
            partial = work / "rootfs.tar"
            subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True, capture_output=True)
            partial.rename(tarball)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tarball


def build_debian_python_image(
    docker: TemporaryDockerd | Sequence[str], tag: str = DEBIAN_PYTHON_IMAGE, *, cache_dir: Path | None = None
) -> str:
    """``tag``: Debian bookworm with python3 (``python3``, no ``python``), imported into the daemon if missing."""
    return build_debian_image(docker, ("python3",), tag, cache_dir=cache_dir)


def build_debian_image(
    docker: TemporaryDockerd | Sequence[str], packages: Sequence[str], tag: str, *, cache_dir: Path | None = None
) -> str:
    """``tag``: Debian bookworm minbase with ``packages``, imported into the daemon if missing."""
    command = list(docker.command if isinstance(docker, TemporaryDockerd) else docker)
    if subprocess.run([*command, "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    tarball = debian_rootfs(packages, cache_dir)
    with open(tarball, "rb") as stream:
        subprocess.run(
            [*command, "import", "--change", "ENV LANG=C.UTF-8", "-", tag],
            stdin=stream,
            check=True,
            capture_output=True,
        )
    return tag
