"""Knit's object store against plain boto3, on the same S3 server (moto, on loopback) in the same run.

Push and pull of 1 GiB in one file ("big") and of 10,000 files of 4 KiB ("small"): through Knit's ``ObjectStore``
(``import_dir`` of a local directory, ``extract_to`` into one: manifest, checksums verified both ways), and
through boto3's ``upload_file`` / ``download_file`` of the same files (its default transfer settings: multipart with
10 threads for the big file, one call per small file, as a plain loop does). Each transfer runs in a fresh process
(``--worker``) whose peak resident memory is read when it ends (``wait4``).

Prints one JSON line: ``push_ratio_big``, ``push_ratio_small``, ``pull_ratio_big``, ``pull_ratio_small`` (Knit's
throughput / boto3's: above 1 is faster), ``push_ratio`` and ``pull_ratio`` (the smaller of big and small),
``peak_rss_mb`` (the largest of Knit's transfers), and the seconds and memory of every transfer. Targets: ratios
>= 0.8, peak_rss_mb < 200.

Usage: ``python bench/object_store.py [--big-mib 1024] [--small-files 10000] [--small-kib 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from knit_dev.s3 import MotoServer

BUCKET = "knit-bench"


def make_inputs(root: Path, big_mib: int, small_files: int, small_kib: int) -> dict[str, Path]:
    big, small = root / "big", root / "small"
    big.mkdir(parents=True)
    with open(big / "big.bin", "wb") as out:
        for _ in range(big_mib):
            out.write(os.urandom(1 << 20))
    for i in range(small_files):
        folder = small / f"{i // 1000:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.bin").write_bytes(os.urandom(small_kib << 10))
    return {"big": big, "small": small}


# ---- the workers (each in its own process) --------------------------------------------------------------------


def knit_store(work: Path):
    from knit_provider.storage.spec import StoreSpec

    return StoreSpec(url=f"s3://{BUCKET}/knit").open(work)


def worker(kind: str, op: str, source: Path, dest: Path, work: Path, name: str) -> None:
    if kind == "knit" and op == "push":
        knit_store(work).import_dir(source, name)
    elif kind == "knit":
        knit_store(work).extract_to(name, dest)
    elif kind == "boto3":
        import boto3

        client = boto3.client("s3")
        files = sorted(p for p in source.rglob("*") if p.is_file()) if op == "push" else None
        if op == "push":
            for path in files or []:
                client.upload_file(str(path), BUCKET, f"boto3/{name}/{path.relative_to(source)}")
        else:
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=BUCKET, Prefix=f"boto3/{name}/"):
                for item in page.get("Contents", []):
                    target = dest / item["Key"].removeprefix(f"boto3/{name}/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(BUCKET, item["Key"], str(target))


def timed(env: dict[str, str], *args: str) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one worker process."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, __file__, "--worker", *args], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"worker {args} failed ({proc.returncode})")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--small-kib", type=int, default=4)
    parser.add_argument("--worker", nargs=6, metavar=("KIND", "OP", "SOURCE", "DEST", "WORK", "NAME"))
    args = parser.parse_args()
    if args.worker:
        kind, op, source, dest, work, name = args.worker
        worker(kind, op, Path(source), Path(dest), Path(work), name)
        return
    root = Path(tempfile.mkdtemp(prefix="knit-bench-s3-"))
    try:
        with MotoServer() as s3:
            s3.bucket(BUCKET)
            env = {**os.environ, **s3.env}
            inputs = make_inputs(root / "in", args.big_mib, args.small_files, args.small_kib)
            results: dict[str, dict[str, float]] = {}
            for size, source in inputs.items():
                for kind in ("boto3", "knit"):
                    for op in ("push", "pull"):
                        dest = root / "out" / f"{kind}-{size}"
                        seconds, rss = timed(env, kind, op, str(source), str(dest), str(root / "work"), size)
                        results[f"{kind}_{op}_{size}"] = {"seconds": round(seconds, 2), "peak_rss_mb": round(rss, 1)}
                        if op == "pull":
                            shutil.rmtree(dest, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    figures: dict[str, object] = {}
    for op in ("push", "pull"):
        for size in ("big", "small"):
            ratio = results[f"boto3_{op}_{size}"]["seconds"] / results[f"knit_{op}_{size}"]["seconds"]
            figures[f"{op}_ratio_{size}"] = round(ratio, 2)
        figures[f"{op}_ratio"] = min(figures[f"{op}_ratio_big"], figures[f"{op}_ratio_small"])  # type: ignore[type-var]
    figures["peak_rss_mb"] = max(v["peak_rss_mb"] for k, v in results.items() if k.startswith("knit_"))
    figures.update(big_mib=args.big_mib, small_files=args.small_files, small_kib=args.small_kib, runs=results)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
