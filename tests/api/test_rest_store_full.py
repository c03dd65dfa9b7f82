"""An upload into a full Data store: a 507 naming the store as full, nothing kept, the catalog unchanged; the same
one line from the CLI's local mode. The store is a real 1 MiB tmpfs mounted over the knit home's data directory."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import stored_ids

from knit_provider.core.errors import StoreFull
from knit_provider.service import Knit, data

pytestmark = pytest.mark.reliability


@pytest.fixture
def full_knit(tmp_path: Path) -> Iterator[Knit]:
    """A knit home whose Data store is a 1 MiB tmpfs."""
    store = tmp_path / "full-home" / "data"
    store.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(store)], check=True)
    try:
        with Knit.open(home=tmp_path / "full-home") as knit:
            yield knit
    finally:
        subprocess.run(["umount", "-l", str(store)], check=True)


def two_mebibytes_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("big.bin")
        info.size = 2 << 20
        tar.addfile(info, io.BytesIO(os.urandom(info.size)))
    return buf.getvalue()


def test_an_upload_into_a_full_store_is_a_507_and_leaves_nothing(api, api_knit, full_knit, tmp_path) -> None:
    from knit_provider.api.knit import knit as catalog

    app = api.app.routes[-1].app
    app.dependency_overrides[catalog] = lambda: full_knit
    reply = api.post("/api/data", params={"tag": "full:yes"}, content=two_mebibytes_tar())
    assert reply.status_code == 507, reply.text
    error = reply.json()
    assert error["type"] == "StoreFull" and "is full" in error["message"] and "nothing was stored" in error["message"]
    assert "\n" not in error["message"]
    assert data.find(full_knit, ["full:yes"]) == [] and stored_ids(full_knit) == set()
    assert list((full_knit.store.root / ".staging").iterdir()) == []


def test_a_local_push_into_a_full_store_is_one_line_and_leaves_nothing(full_knit, tmp_path) -> None:
    source = tmp_path / "big"
    source.mkdir()
    (source / "big.bin").write_bytes(os.urandom(2 << 20))
    with pytest.raises(StoreFull, match="is full") as refused:
        data.push_dir(full_knit, source, ["full:yes"])
    assert "\n" not in str(refused.value)
    assert data.find(full_knit, ["full:yes"]) == [] and stored_ids(full_knit) == set()
