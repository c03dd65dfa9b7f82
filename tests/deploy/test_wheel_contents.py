"""The wheel holds what a deployment runs and nothing else: the ``knit_provider`` package with its data files (the
catalog migrations, the pages' templates and static files), no tests, benchmarks, examples, or the development
support (``knit_dev``: the local Airflow harness and the test servers), which is a separate, unpublished package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO

pytestmark = [pytest.mark.conventions, pytest.mark.slow]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob("airflow_provider_knit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_holds_only_the_package_and_its_metadata(wheel_names: set[str]) -> None:
    tops = {name.split("/")[0] for name in wheel_names}
    (dist_info,) = [t for t in tops if t.endswith(".dist-info")]
    assert tops == {"knit_provider", dist_info}, f"unexpected top-level entries: {sorted(tops - {dist_info})}"
    for unwanted in ("tests/", "knit_dev/", "bench/", "examples/", "/testing/", "/local/", "__pycache__"):
        assert not [n for n in wheel_names if unwanted in f"/{n}"], f"{unwanted} is in the wheel"


def test_every_module_and_data_file_of_the_package_ships(wheel_names: set[str]) -> None:
    package = REPO / "knit_provider"
    sources = {
        p.relative_to(REPO).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    missing = sorted(sources - wheel_names)
    assert not missing, f"left out of the wheel (pyproject package-data?): {missing[:10]}"
    assert any(n.startswith("knit_provider/catalog/migrations/versions/0001") for n in wheel_names)
    assert any(n.startswith("knit_provider/api/pages/templates/") for n in wheel_names)


def test_the_development_support_is_its_own_package() -> None:
    import knit_dev.standalone

    assert Path(knit_dev.standalone.__file__).resolve().is_relative_to(REPO / "dev")
    assert not (REPO / "knit_provider" / "testing").exists() and not (REPO / "knit_provider" / "local").exists()
