"""The upload quota: ``[knit] max_upload_bytes`` resolved from the settings, and enforced while unpacking."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from knit_provider.core.errors import InvalidInput, TooLarge
from knit_provider.service.settings import KnitSettings
from knit_provider.storage import LocalStore

pytestmark = pytest.mark.reliability

MiB = 1 << 20


def test_the_limit_is_read_with_units_and_defaults_to_10_gib() -> None:
    assert KnitSettings.resolve().max_upload_bytes == 10 << 30
    given = {"max_upload_bytes": "512MiB"}
    assert KnitSettings.resolve(given.get).max_upload_bytes == 512 * MiB
    assert KnitSettings.resolve({"max_upload_bytes": "0"}.get).max_upload_bytes == 0
    assert KnitSettings.resolve({"max_upload_bytes": "1000"}.get).max_upload_bytes == 1000
    with pytest.raises(InvalidInput, match=r"\[knit\] max_upload_bytes: not a size"):
        KnitSettings.resolve({"max_upload_bytes": "lots"}.get)


class LazyTar:
    """A plain tar of ``files`` files of ``size`` zero bytes, made as it is read, counting what was read."""

    def __init__(self, files: int, size: int) -> None:
        self.read_bytes = 0
        self._blocks = self._generate(files, size)
        self._buffer = b""

    def _generate(self, files: int, size: int):
        for i in range(files):
            info = tarfile.TarInfo(f"f{i:04}.bin")
            info.size = size
            yield info.tobuf(format=tarfile.GNU_FORMAT)
            for _ in range(size // MiB):
                yield bytes(MiB)
        yield bytes(1024)

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buffer) < n:
            chunk = next(self._blocks, None)
            if chunk is None:
                break
            self._buffer += chunk
        n = len(self._buffer) if n < 0 else n
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        self.read_bytes += len(out)
        return out


def test_unpacking_stops_as_soon_as_the_limit_is_passed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    stream = LazyTar(files=1000, size=MiB)  # 1000 MiB if read to the end
    with pytest.raises(TooLarge, match="limit of 3 MiB"):
        store.import_tar(stream, "big", max_bytes=3 * MiB)
    assert stream.read_bytes < 8 * MiB, "the rest of the stream was never read"
    assert list(store.root.iterdir()) in ([], [store.root / ".staging"])
    assert list((store.root / ".staging").iterdir()) == []


def test_a_flood_of_empty_entries_counts_too(tmp_path: Path) -> None:
    """Each entry costs its 512-byte header: a million empty files cannot slip under a byte limit."""
    store = LocalStore(tmp_path / "store")
    with pytest.raises(TooLarge):
        store.import_tar(LazyTar(files=5000, size=0), "flood", max_bytes=1 * MiB)
    store.import_tar(io.BytesIO(LazyTar(files=10, size=0).read()), "few", max_bytes=1 * MiB)
