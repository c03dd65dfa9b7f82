"""Shared fixtures: a real PostgreSQL server for the session, and a fresh catalog per test on each backend."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from knit_dev.docker import DEBIAN_PYTHON_IMAGE, TemporaryDockerd, build_debian_python_image
from knit_dev.postgres import TemporaryPostgres
from knit_dev.s3 import MotoServer

from knit_provider.service import Knit

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TemporaryPostgres]:
    """One real server per test session (initdb into a temporary directory); never skipped."""
    with TemporaryPostgres() as server:
        yield server


@pytest.fixture(scope="session")
def dockerd() -> Iterator[TemporaryDockerd]:
    """One real Docker daemon per session, with a Debian python base image imported (rootfs cached); never skipped."""
    with TemporaryDockerd() as daemon:
        build_debian_python_image(daemon, DEBIAN_PYTHON_IMAGE)
        yield daemon


@pytest.fixture(scope="session")
def s3_server() -> Iterator[MotoServer]:
    """One moto S3 server per session, on loopback, in its own process; each test takes a bucket of its own."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def s3_url(s3_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://<a new bucket>/knit``, with the standard AWS variables pointing at the session's moto server."""
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    bucket = s3_server.bucket(f"knit-{os.getpid()}-{next(_databases)}")
    return f"s3://{bucket}/knit"


def new_catalog_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    server: TemporaryPostgres = request.getfixturevalue("postgres_server")
    return server.create_database(f"knit_{os.getpid()}_{next(_databases)}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def catalog_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    return new_catalog_url(request, backend, tmp_path)


@pytest.fixture
def knit(catalog_url: str, tmp_path: Path) -> Iterator[Knit]:
    instance = Knit.open(url=catalog_url, home=tmp_path / "home")
    yield instance
    instance.close()


@pytest.fixture
def make_dir(tmp_path: Path):
    """``make_dir("name", {"file.txt": "content"})`` -> a directory to push."""
    counter = itertools.count()

    def make(name: str = "data", files: dict[str, str] | None = None) -> Path:
        root = tmp_path / "src" / str(next(counter)) / name
        root.mkdir(parents=True)
        for rel, content in (files or {"file.txt": name}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(content)
        return root

    return make
