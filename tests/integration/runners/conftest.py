"""Runner tests run real programs: bubblewrap on the host, and the session's dockerd (``tests/conftest.py``).

A ``Workspace`` makes build contexts (Dockerfile ``FROM`` the locally imported Debian python image), the image map
that points at them, input/output directories and requests; ``ws`` is parametrized over both runners.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from knit_dev.docker import TemporaryDockerd
from runner_workspace import Workspace


@pytest.fixture(params=["process", pytest.param("docker", marks=pytest.mark.docker)])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Workspace:
    daemon = request.getfixturevalue("dockerd") if request.param == "docker" else None
    return Workspace(tmp_path, request.param, daemon)


@pytest.fixture
def process_ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path, "process")


@pytest.fixture
def docker_ws(tmp_path: Path, dockerd: TemporaryDockerd) -> Workspace:
    return Workspace(tmp_path, "docker", dockerd)
