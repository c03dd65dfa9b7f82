"""A tar import is complete or refused: truncated streams and corrupt headers never become a partial Data.

tarfile's stream reader ends quietly at a missing or broken header past the first one, so an upload cut at a
file boundary (and then gzipped properly) or with a damaged later header used to be stored with the rest dropped.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from knit_provider.core.errors import InvalidInput
from knit_provider.storage import LocalStore

pytestmark = pytest.mark.reliability

BLOCK = 512


def raw_tar(files: dict[str, bytes]) -> bytes:
    """A plain tar of regular files, in order, as tarfile writes it (end blocks and record padding included)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def member_offsets(body: bytes) -> list[int]:
    """The byte offset of every member's header."""
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
        return [m.offset for m in tar.getmembers()]


THREE = {"a.txt": b"alpha" * 300, "b.txt": b"beta" * 10, "c.txt": b"gamma"}


def cut_at_second_member() -> bytes:
    body = raw_tar(THREE)
    return body[: member_offsets(body)[1]]  # exactly after a.txt's padded data: a clean file boundary


def cut_before_the_end_blocks() -> bytes:
    body = raw_tar(THREE)
    last = member_offsets(body)[-1]
    return body[: last + 2 * BLOCK]  # c.txt's header and its one data block, then nothing


def one_end_block_only() -> bytes:
    body = raw_tar(THREE)
    last = member_offsets(body)[-1]
    return body[: last + 3 * BLOCK]  # c.txt, then a lone zero block


def corrupt_second_header() -> bytes:
    body = bytearray(raw_tar(THREE))
    second = member_offsets(bytes(body))[1]
    body[second + 10] ^= 0x55  # inside the name field: the header checksum no longer matches
    return bytes(body)


def garbage_header() -> bytes:
    body = bytearray(raw_tar(THREE))
    second = member_offsets(bytes(body))[1]
    body[second : second + BLOCK] = b"\x7f" * BLOCK
    return bytes(body)


BROKEN = {
    "cut-at-a-file-boundary": cut_at_second_member,
    "cut-before-the-end-blocks": cut_before_the_end_blocks,
    "one-end-block-only": one_end_block_only,
    "corrupt-later-header": corrupt_second_header,
    "garbage-later-header": garbage_header,
}
PACKINGS = {"tar": lambda b: b, "gzip": gzip.compress, "bzip2": bz2.compress}


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def assert_nothing_kept(store: LocalStore) -> None:
    assert [p.name for p in store.root.iterdir() if p.name != ".staging"] == []
    staging = store.root / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []


@pytest.mark.parametrize("packing", sorted(PACKINGS))
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_tar_is_refused_whole(store: LocalStore, case: str, packing: str) -> None:
    body = PACKINGS[packing](BROKEN[case]())
    with pytest.raises(InvalidInput) as err:
        store.import_tar(io.BytesIO(body), "broken")
    message = str(err.value)
    assert "\n" not in message and "nothing was kept" in message, message
    assert_nothing_kept(store)


def test_the_complete_archive_is_accepted(store: LocalStore) -> None:
    """The control: the same archive uncut imports every file."""
    for packing, pack in PACKINGS.items():
        store.import_tar(io.BytesIO(pack(raw_tar(THREE))), f"whole-{packing}")
        assert sorted(os.listdir(store.path(f"whole-{packing}"))) == sorted(THREE)


def test_bytes_after_the_end_blocks_are_ignored(store: LocalStore) -> None:
    """Record padding or anything else after the end-of-archive blocks is not part of the archive."""
    body = raw_tar(THREE) + b"trailing bytes a careless writer left"
    store.import_tar(io.BytesIO(body), "padded")
    assert sorted(os.listdir(store.path("padded"))) == sorted(THREE)


def test_an_empty_archive_is_still_an_empty_data(store: LocalStore) -> None:
    store.import_tar(io.BytesIO(gzip.compress(raw_tar({}))), "empty")
    assert os.listdir(store.path("empty")) == []
