"""Wheels for the images the deployment tests build, made on the host (which reaches PyPI through pip's own
configuration) so that no image build needs a network: the images install with ``--no-index --find-links``.

A wheelhouse is cached under ``~/.cache/knit-test/wheelhouse-<key>``, the key being a hash of the requirements and
of the Airflow versions pinned from this virtualenv, so a re-run is instant and a dependency change
makes a new one.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from knit_dev.docker import _cache_dir

REPO = Path(__file__).resolve().parents[2]


def project_requirements() -> list[str]:
    """The package's runtime dependencies, as pyproject.toml declares them."""
    return list(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])


def project_extra(name: str) -> list[str]:
    """An optional-dependencies group of pyproject.toml (the image installs the ``s3`` extra)."""
    return list(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"][name])


def installed_version(name: str) -> str:
    return metadata.version(name)


def _pins() -> str:
    """This virtualenv's Airflow (core, task SDK, providers), as constraints: the images run the Airflow the tests
    run. Nothing else is pinned: the image adds providers (FAB, Celery) whose own pins pip must be free to meet."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    )
    return "\n".join(line for line in done.stdout.splitlines() if line.lower().startswith("apache-airflow")) + "\n"


def wheelhouse(name: str, requirements: list[str]) -> Path:
    """A directory of wheels for ``requirements`` and all they depend on (built from sdists where PyPI has no
    wheel), plus pip itself; made once per requirement set."""
    pins = _pins()
    wanted = sorted({*requirements, f"pip=={installed_version('pip')}"})
    key = hashlib.sha256(("\n".join(wanted) + "\n--\n" + pins + sys.version).encode()).hexdigest()[:16]
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"wheelhouse-{name}-{key}"
    with open(cache / f".lock-wheelhouse-{name}", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():
            return target
        work = Path(tempfile.mkdtemp(prefix=f"wheelhouse-{name}-", dir=cache))
        try:
            (work / "constraints.txt").write_text(pins)
            (work / "requirements.txt").write_text("\n".join(wanted) + "\n")
            wheels = work / "wheels"
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--wheel-dir",
                    str(wheels),
                    "--constraint",
                    str(work / "constraints.txt"),
                    "--requirement",
                    str(work / "requirements.txt"),
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise RuntimeError(f"pip wheel for the {name} image failed: {done.stderr.strip()[-3000:]}")
            (wheels / "requirements.txt").write_text("\n".join(wanted) + "\n")
            wheels.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target
