"""Example 4 (``examples/dag-wiring-migration``) on the session's ``airflow standalone``: the classic pipeline wired
by Assets, then the same pipeline half-migrated to Knit over two batches, as ``run_migration.py`` runs them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from knit_dev.standalone import REPO, Standalone

from knit_provider.service import Knit, data, graphs

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.assets]

EXAMPLE = REPO / "examples" / "dag-wiring-migration"


@pytest.fixture(scope="module")
def example(airflow: Standalone, e2e_dags: Path):
    for path in (EXAMPLE / "classic" / "wiring_classic.py", EXAMPLE / "migrated" / "dags" / "wiring_knit.py"):
        (e2e_dags / path.name).symlink_to(path)
    spec = importlib.util.spec_from_file_location("run_migration", EXAMPLE / "run_migration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_4_classic_then_half_migrated(airflow: Standalone, knit: Knit, example) -> None:
    migration = example.Migration(airflow, 240)
    wiring = airflow.knit_home / "wiring"
    try:
        assert example.run_classic(migration, wiring)
        assert example.run_migrated(migration, wiring)
        evaluations = migration.runs_of("evaluate")
    finally:
        migration.knit.close()
    classic = example.rows(wiring / "report-classic.md")
    assert classic == ["| batch 1 | batch 1 | " + classic[0].split("|")[3].strip() + " |"]
    migrated = example.rows(wiring / "report-knit.md")
    pairs = sorted(tuple(cell.strip() for cell in row.split("|")[1:3]) for row in migrated)
    assert pairs == [("batch 1", "batch 1"), ("batch 1", "batch 2"), ("batch 2", "batch 1"), ("batch 2", "batch 2")]
    assert len(evaluations) == 4 and all(r["status"] == "done" for r in evaluations)
    metrics = evaluations[0]["outputs"][0]["knitId"]
    dot = graphs.lineage(knit, metrics, upstream=True, depth=None).to_dot()
    assert "airflow#task:wiring_knit_ingest.push" in dot, "the ingest task is the lineage root"
    batches = data.find(knit, ["type:dataset", "project:wiring"])
    assert sorted(t for d in batches for t in d["tags"] if t.startswith("name:")) == ["name:batch-1", "name:batch-2"]
