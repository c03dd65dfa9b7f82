"""What a killed process leaves in an object store, found by age (the object store's side of ``leftovers``).

- Staged objects ``staging/<knit id>/...`` of a Data with no manifest: an import or an upload killed before its
  manifest was written, or a deletion killed after its manifest was removed. Their age is the newest object's
  (a live writer rewrites ``.alive`` every minute), so an import in progress is never taken for a leftover.
- A manifest whose Data the catalog does not have (a push killed between its manifest and its catalog commit),
  or whose Data was purged: listed as a Data "directory" for the caller (the doctor) to judge by the catalog.
- This machine's own debris: fetches into the input cache and Run outputs a killed worker left (``local:``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from knit_provider.storage.leftovers import KNIT_ID, Leftover

if TYPE_CHECKING:
    from knit_provider.storage.objects import ObjectStore

LOCAL_GRACE_S = 24 * 3600.0  # a Run's outputs stay local while its program runs: days, sometimes


def _mtime(info: dict[str, Any]) -> float:
    """An object's last modification (s3fs ``LastModified``, gcsfs ``updated``, adlfs ``last_modified``)."""
    for key in ("LastModified", "last_modified", "updated", "mtime", "created"):
        value = info.get(key)
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return time.time()  # unknown: never old enough to be swept


def _listing(store: ObjectStore, path: str) -> list[dict[str, Any]]:
    store.fs.invalidate_cache(path)
    try:
        return list(store.fs.ls(path, detail=True))
    except FileNotFoundError:
        return []


def leftovers(store: ObjectStore, older_than_s: float) -> tuple[list[Leftover], list[Leftover]]:
    """(staging leftovers, manifests) untouched for ``older_than_s`` seconds.

    Two listings by prefix (Data ids under ``staging/``, manifests) find the ids staged without a manifest;
    only those are looked into (their objects' ages). A committed Data keeps only the staging prefix its manifest
    names: a commit removes any other one under its id (``ObjectStore._commit_all``), so nothing hides behind it.
    """
    now = time.time()
    committed: dict[str, dict[str, Any]] = {}
    for info in _listing(store, f"{store.root}/manifests"):
        name = info["name"].rsplit("/", 1)[-1]
        if name.endswith(".json") and KNIT_ID.fullmatch(name.removesuffix(".json")):
            committed[name.removesuffix(".json")] = info
    staging: list[Leftover] = []
    for id_dir in _listing(store, f"{store.root}/staging"):
        knit_id = id_dir["name"].rstrip("/").rsplit("/", 1)[-1]
        if knit_id in committed:
            continue
        prefix = id_dir["name"].rstrip("/")
        store.fs.invalidate_cache(prefix)
        found = store.fs.find(prefix, detail=True)
        newest = max((_mtime(info) for info in found.values()), default=now)
        if now - newest >= older_than_s and store.manifest(knit_id) is None:  # committed since the listing?
            staging.append(Leftover(prefix[len(store.root) + 1 :], None, now - newest))
    data = [
        Leftover(f"manifests/{knit_id}.json", knit_id, now - _mtime(info))
        for knit_id, info in committed.items()
        if now - _mtime(info) >= older_than_s
    ]
    staging += _local(store, max(older_than_s, LOCAL_GRACE_S))
    return staging, data


def _local(store: ObjectStore, older_than_s: float) -> list[Leftover]:
    """Outputs and cache fetches of this machine untouched for ``older_than_s`` (a killed worker's)."""
    found = []
    now = time.time()
    for sub in ("outputs", "inputs/tmp"):
        base = store.work_dir / sub
        if not base.is_dir():
            continue
        for entry in base.iterdir():
            with contextlib.suppress(OSError):
                age = now - entry.lstat().st_mtime
                if age >= older_than_s:
                    found.append(Leftover(f"local:{sub}/{entry.name}", None, age))
    return found


def size_of(store: ObjectStore, leftover: Leftover) -> int:
    if leftover.name.startswith("local:"):
        from knit_provider.storage.leftovers import size_of as local_size

        return local_size(store.work_dir / leftover.name.removeprefix("local:"))
    if leftover.knit_id is not None:
        manifest = store.manifest(leftover.knit_id)
        return manifest.info.size if manifest is not None else 0
    path = f"{store.root}/{leftover.name}"
    store.fs.invalidate_cache(path)
    with contextlib.suppress(FileNotFoundError):
        return int(sum(info.get("size") or 0 for info in store.fs.find(path, detail=True).values()))
    return 0


def claim_sweep(store: ObjectStore, every_s: float) -> bool:
    """True (and the mark renewed) when no process claimed a sweep of this store in the last ``every_s``."""
    mark = f"{store.root}/.last-sweep"
    store.fs.invalidate_cache(mark)
    try:
        if time.time() - _mtime(store.fs.info(mark)) < every_s:
            return False
    except FileNotFoundError:
        pass
    store.fs.pipe_file(mark, str(time.time()).encode())
    return True
