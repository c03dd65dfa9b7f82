"""Route tests through FastAPI's TestClient, where authentication is not the point.

``api`` is the real Knit app (``create_app()``) with three things replaced, and only here: Airflow's
``get_user`` (a fixed admin user instead of a JWT), the access checks of ``api.rest.common`` (allowed), and the
catalog (a fresh SQLite catalog per test instead of the api-server's). Authentication and authorization are
tested against a real api-server: ``standalone`` (one ``airflow standalone`` per session, with an admin, a
viewer and a ``user``-role writer) serves ``test_standalone_api.py`` and ``test_remote_client.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import SH_IMAGE
from fastapi import FastAPI
from fastapi.testclient import TestClient
from knit_dev.standalone import Standalone, free_port

from knit_provider.service import Knit


@pytest.fixture
def api_knit(tmp_path: Path) -> Iterator[Knit]:
    with Knit.open(home=tmp_path / "home") as instance:
        yield instance


@pytest.fixture(scope="session")
def knit_app() -> FastAPI:
    """The Knit app as Airflow mounts it (under ``/knit``), with the user and the access checks replaced."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user

    from knit_provider.api.app import create_app
    from knit_provider.api.rest.common import ACCESS_CHECKS

    app = create_app()
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="route-tests", role="admin")
    for check in ACCESS_CHECKS:
        app.dependency_overrides[check] = lambda: None
    server = FastAPI()
    server.mount("/knit", app)
    return server


@pytest.fixture
def api(knit_app: FastAPI, api_knit: Knit) -> Iterator[TestClient]:
    """A client of ``knit_app`` whose routes work on this test's catalog."""
    from knit_provider.api.knit import knit as catalog

    app = knit_app.routes[-1].app  # the mounted Knit app
    app.dependency_overrides[catalog] = lambda: api_knit
    try:
        with TestClient(knit_app, base_url="http://testserver/knit") as client:
            yield client
    finally:
        del app.dependency_overrides[catalog]


# ---- a real api-server ----------------------------------------------------------------------------------------

#: ``[core] simple_auth_manager_users``: one user per role the tests need
USERS = {"admin": "admin", "viewer": "viewer", "writer": "user"}


@pytest.fixture(scope="session")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    """One real ``airflow standalone`` for the API's auth, streaming and client tests (process runner)."""
    images = tmp_path_factory.mktemp("api-images")
    (images / "sh").mkdir()
    (images / "sh" / "Dockerfile").write_text('FROM busybox\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n')
    (images / "images.yaml").write_text(f"{SH_IMAGE!r}: sh\n")
    users = ",".join(f"{name}:{role}" for name, role in USERS.items())
    with Standalone(
        knit_home=tmp_path_factory.mktemp("api-home"),
        port=free_port(),
        image_maps=[images / "images.yaml"],
        extra_env={"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users},
    ) as server:
        yield server


@pytest.fixture(scope="session")
def tokens(standalone: Standalone) -> dict[str, str]:
    """A JWT per user, from Airflow's ``POST /auth/token``."""
    passwords = json.loads((standalone.airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
    found = {}
    for name in USERS:
        reply = httpx.post(f"{standalone.url}/auth/token", json={"username": name, "password": passwords[name]})
        reply.raise_for_status()
        found[name] = reply.json()["access_token"]
    return found


@pytest.fixture(scope="session")
def server_knit(standalone: Standalone) -> Iterator[Knit]:
    """The catalog the api-server works on, opened directly (to check what a request did or did not leave)."""
    with Knit.open(home=standalone.knit_home) as instance:
        yield instance
