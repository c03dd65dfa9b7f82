"""``python -m knit_provider.stager {fetch|upload} ...``: see the package docstring."""

from __future__ import annotations

import signal
import threading

# First of all: kubelet may stop the sidecar as soon as it started (a program that ends at once), and the default
# SIGTERM would end it before it uploads anything. The stop is remembered, never acted on, until the uploads.
STOPPED = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: STOPPED.set())

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from knit_provider.core.errors import KnitError  # noqa: E402
from knit_provider.storage.object_reading import materialise  # noqa: E402
from knit_provider.storage.objects import ObjectStore  # noqa: E402
from knit_provider.storage.spec import StoreSpec  # noqa: E402

EXIT_FAILED = 1
#: Written once the sidecar waits: its startup probe, so kubelet starts the program only then.
READY = ".knit-stager-ready"


def _pairs(items: list[str]) -> list[tuple[str, Path]]:
    pairs = []
    for item in items:
        knit_id, sep, directory = item.partition("=")
        if not sep or not knit_id or not directory:
            raise SystemExit(f"knit stager: {item!r} is not KNIT_ID=DIR")
        pairs.append((knit_id, Path(directory)))
    return pairs


def _store() -> ObjectStore:
    spec = StoreSpec.from_env()
    if not spec.url:
        raise SystemExit("knit stager: KNIT_DATA_STORE is not set")
    store = spec.open(Path(tempfile.mkdtemp(prefix="knit-stager-")))
    if not isinstance(store, ObjectStore):
        raise SystemExit(f"knit stager: {spec.url} is not an object store")
    return store


def fetch(pairs: list[tuple[str, Path]]) -> None:
    store = _store()
    for knit_id, directory in pairs:
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            print(f"knit stager: {knit_id} is in {directory} already", flush=True)
            continue  # an init container run again after a restart of the pod's sandbox
        manifest = store.require(knit_id)
        with store.transfers() as transfers:
            materialise(store, manifest, directory, transfers, None)
        print(f"knit stager: fetched {knit_id} ({manifest.info.size} bytes, {manifest.info.files} files)", flush=True)


def upload(pairs: list[tuple[str, Path]], *, on_term: bool) -> None:
    for _, directory in pairs:
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o777)  # the program may run as any user
    if on_term:
        signal.signal(signal.SIGINT, lambda *_: STOPPED.set())
        for parent in {directory.parent for _, directory in pairs}:
            (parent / READY).touch()
        print("knit stager: waiting for the program to end", flush=True)
        while not STOPPED.wait(3600):
            pass
    store = _store()
    for knit_id, directory in pairs:
        if store.exists(knit_id):
            print(f"knit stager: {knit_id} is committed already", flush=True)
            continue
        info = store.upload_dir(directory, knit_id)
        print(f"knit stager: uploaded {knit_id} ({info.size} bytes, {info.files} files)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knit_provider.stager", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="write input Data into directories").add_argument("pairs", nargs="+")
    up = sub.add_parser("upload", help="commit output directories as Data")
    up.add_argument("--on-term", action="store_true", help="wait for SIGTERM first (a native sidecar)")
    up.add_argument("pairs", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch(_pairs(args.pairs))
        else:
            upload(_pairs(args.pairs), on_term=args.on_term)
    except (KnitError, OSError) as err:
        print(f"knit stager: {args.command} failed: {err}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
