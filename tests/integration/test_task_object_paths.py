"""``KnitDataHook.push`` and ``pull`` with an ``ObjectStoragePath`` on S3 (the session's moto server, through an
Airflow ``aws`` connection): the Data holds exactly the object tree, and a pull writes it back under
``DEST/<knit id>/`` in the bucket."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from knit_dev.s3 import MotoServer

from knit_provider.hooks.data import KnitDataHook
from knit_provider.service import data

pytestmark = [pytest.mark.assets, pytest.mark.object_store]

CONN_ID = "knit_task_s3"


@pytest.fixture
def bucket_path(s3_server: MotoServer, knit, catalog_url, monkeypatch):
    """An ``ObjectStoragePath`` factory on a new bucket, and a hook whose ``[knit]`` settings reach the catalog."""
    from airflow.sdk import ObjectStoragePath

    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", s3_server.airflow_connection())
    monkeypatch.setenv("AIRFLOW__KNIT__CATALOG_URL", catalog_url)
    monkeypatch.setenv("AIRFLOW__KNIT__KNIT_HOME", str(knit.home))
    bucket = s3_server.bucket(f"task-paths-{id(knit)}")
    return lambda key: ObjectStoragePath(f"s3://{bucket}/{key}", conn_id=CONN_ID)


def _context(task_id: str) -> dict:
    ti = SimpleNamespace(dag_id="ingest", task_id=task_id, run_id="manual__1", map_index=-1, try_number=1)
    return {"ti": ti}


def test_a_task_pushes_an_object_store_tree_and_pulls_it_back_there(knit, bucket_path) -> None:
    source = bucket_path("batch")
    (source / "nested").mkdir(parents=True, exist_ok=True)
    (source / "nested" / "a.txt").write_text("from object storage\n")
    (source / "top.csv").write_bytes(b"id,label\n1,x\n")

    knit_id = KnitDataHook(knit_conn_id=None).push(source, ["type:batch"], name="s3", context=_context("push"))

    detail = data.show(knit, knit_id)
    assert {"type:batch", "name:s3"} <= set(detail["tags"])
    assert detail["upstream"]["run"]["plan"]["name"] == "airflow#task:ingest.push"
    local = data.extract(knit, knit_id, knit.home / "check")
    assert sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()) == ["nested/a.txt", "top.csv"]
    assert (local / "nested" / "a.txt").read_text() == "from object storage\n"

    dest = bucket_path("pulled")
    where = KnitDataHook(knit_conn_id=None).pull(knit_id, dest)
    assert where == str(dest / knit_id)
    assert (dest / knit_id / "nested" / "a.txt").read_text() == "from object storage\n"
    assert (dest / knit_id / "top.csv").read_bytes() == b"id,label\n1,x\n"


@pytest.mark.parametrize("key", ["bucket/batch/../escape.txt", "bucket/batch/./../../etc/x"])
def test_an_object_key_leaving_the_tree_is_refused_before_anything_is_written(key: str, tmp_path) -> None:
    from knit_provider.hooks.data import copy_tree_from

    class Tree(SimpleNamespace):
        def rglob(self, _pattern):
            return [SimpleNamespace(path=key, is_dir=lambda: False)]

    target = tmp_path / "copy"
    with pytest.raises(ValueError, match="leaves"):
        copy_tree_from(Tree(path="bucket/batch"), target)
    assert list(tmp_path.rglob("*")) == [target], "nothing written beside or below the copy"
