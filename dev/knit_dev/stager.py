"""A build context for the stager image Runs' pods use with Data on an object store (tests, the kube stand-in).

The image holds this checkout's ``knit_provider`` (``COPY``, on ``PYTHONPATH``) and runs
``python3 -m knit_provider.stager``. The kube stand-in's bwrap runtime runs it with the host's interpreters, whose
environment has the object store's libraries (s3fs); a real deployment uses an image with the package and its
``[s3]`` extra installed (Airflow's own image, built from this repository's Dockerfile).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from knit_dev.docker import DEBIAN_PYTHON_IMAGE

__all__ = ["stager_context"]

PACKAGE = Path(__file__).resolve().parents[2] / "knit_provider"


def stager_context(dest: Path, *, base: str = DEBIAN_PYTHON_IMAGE) -> Path:
    """Write the context into ``dest`` (created) and return it."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PACKAGE, dest / "knit_provider", ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    (dest / "Dockerfile").write_text(
        f"FROM {base}\n"
        "COPY knit_provider /opt/knit/knit_provider\n"
        "ENV PYTHONPATH=/opt/knit\n"
        "WORKDIR /\n"
        'ENTRYPOINT ["python3", "-m", "knit_provider.stager"]\n'
    )
    return dest
