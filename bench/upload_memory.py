"""Memory of the api-server while a large Data goes through the Knit REST API: up (streamed tar) and down (tar.gz).

Prints one JSON line ``{"size_mib", "upload": {...}, "download": {...}, "content_sha256_ok"}``. The body is
generated on the fly (a tar of one file of pseudo-random bytes, so gzip cannot shrink it) and sent by
``knit_provider.remote.KnitClient`` from a generator with its SHA-256 announced; the download is hashed as it
arrives. Meanwhile the api-server's resident memory is sampled every 20 ms: ``growth_mib`` = peak - before. A
server that buffered the body would grow by about ``size_mib``; a streaming one by a few MiB.

Usage: ``python bench/upload_memory.py [--size-mib 200]`` starts its own ``airflow standalone`` (a minute or
two); ``--url URL --username U --password P`` measures a running one on this machine instead (the tests do).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import psutil

from knit_provider.remote.client import KnitClient

CHUNK = 1 << 20
MIB = 1 << 20
SEED = 20240501


def content(size: int) -> Iterator[bytes]:
    """The file's bytes: pseudo-random, the same for the same size."""
    rng = random.Random(SEED)
    left = size
    while left:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def tar_stream(size: int) -> Iterator[bytes]:
    """A plain tar holding ``big.bin`` (``size`` bytes), produced chunk by chunk."""
    info = tarfile.TarInfo("big.bin")
    info.size = size
    info.mode = 0o644
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    yield from content(size)
    yield b"\0" * ((-size) % 512) + b"\0" * 1024


def api_server(port: int) -> psutil.Process:
    """Airflow's api-server process serving ``port`` (its title reads ``airflow api_server -- ... port:N``)."""
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if "api_server" in line and f"port:{port}" in line:
            return proc
    raise RuntimeError(f"no api-server process for port {port}")


class PeakRss:
    """Samples a process's RSS in a thread while the block runs."""

    def __init__(self, proc: psutil.Process, interval_s: float = 0.02) -> None:
        self.proc, self.interval_s = proc, interval_s
        self.before = self.peak = proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    def figures(self, seconds: float, size: int) -> dict:
        return {
            "seconds": round(seconds, 2),
            "mib_per_s": round(size / MIB / seconds, 1),
            "server_rss_before_mib": round(self.before / MIB, 1),
            "server_rss_peak_mib": round(self.peak / MIB, 1),
            "growth_mib": round((self.peak - self.before) / MIB, 1),
        }


class _HashSink:
    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return len(data)


def measure(client: KnitClient, server: psutil.Process, size: int) -> dict:
    body_sha = hashlib.sha256()
    for chunk in tar_stream(size):
        body_sha.update(chunk)
    expected_content = hashlib.sha256()
    for chunk in content(size):
        expected_content.update(chunk)

    with PeakRss(server) as up:
        start = time.monotonic()
        pushed = client.data.push_tar(tar_stream(size), ["bench:upload-memory"], sha256=body_sha.hexdigest())
        up_s = time.monotonic() - start

    with tempfile.TemporaryFile() as spool, PeakRss(server) as down:
        start = time.monotonic()
        client.data.export_tar(pushed["knitId"], spool)
        down_s = time.monotonic() - start
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r|gz") as archive:
            got = _HashSink()
            for member in archive:
                if member.name == "big.bin":
                    reader = archive.extractfile(member)
                    while chunk := reader.read(CHUNK):  # type: ignore[union-attr]
                        got.write(chunk)
    return {
        "size_mib": round(size / MIB, 1),
        "knit_id": pushed["knitId"],
        "upload": up.figures(up_s, size),
        "download": down.figures(down_s, size),
        "content_sha256_ok": got.sha256.hexdigest() == expected_content.hexdigest(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=float, default=200)
    parser.add_argument("--url", help="a running api-server on this machine (else a standalone is started)")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password")
    args = parser.parse_args()
    size = int(args.size_mib * MIB)
    if args.url:
        with KnitClient(args.url, username=args.username, password=args.password, timeout=600) as client:
            print(json.dumps(measure(client, api_server(urlparse(args.url).port or 80), size)))
        return

    from knit_dev.standalone import Standalone, free_port

    with tempfile.TemporaryDirectory(prefix="knit-bench-") as home:
        server = Standalone(knit_home=Path(home), port=free_port())
        print("starting airflow standalone...", file=sys.stderr)
        server.start()
        try:
            with KnitClient(server.url, username="admin", password=server.password(), timeout=600) as client:
                print(json.dumps(measure(client, api_server(server.port), size)))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
