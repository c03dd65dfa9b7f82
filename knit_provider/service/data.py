"""Data use cases: push (upload), find, show, tag, and reading content back out."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from knit_provider.catalog import data as catalog_data
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.catalog.views import data_details
from knit_provider.core.errors import InvalidInput, NotFound
from knit_provider.core.tags import KEY_NAME, Tag, parse_tag, parse_user_tags
from knit_provider.core.timefmt import parse_duration, parse_rfc3339
from knit_provider.service.context import Knit
from knit_provider.storage import ContentInfo
from knit_provider.storage.tree import CHUNK

Progress = Callable[[int], None]
TRANSIENT_CHOICES = {"both": "both", "yes": "yes", "true": "yes", "no": "no", "false": "no"}


def _register(knit: Knit, knit_id: str, tags: list[Tag], info: ContentInfo) -> dict:
    """Record content already in the store; on any failure remove it, so no half Data remains."""
    try:
        with write_tx(knit.engine) as conn:
            catalog_data.register_upload(conn, knit_id, tags, checksum=info.checksum, size=info.size)
    except BaseException:
        knit.store.delete(knit_id)
        raise
    return show(knit, knit_id)


def push_dir(
    knit: Knit, source: Path | str, tags: Sequence[str] = (), *, name: bool = False, progress: Progress | None = None
) -> dict:
    """Upload a directory as new Data (a done Run of ``knit#uploaded``); ``name`` adds ``name:<dirname>``."""
    source = Path(source)
    if not source.is_dir():
        raise InvalidInput(f"not a directory: {source}", field="source")
    user_tags = parse_user_tags(tags)
    if name:
        name_tag = Tag(KEY_NAME, source.resolve().name)
        user_tags = [t for t in user_tags if t != name_tag] + [name_tag]
    knit_id = str(uuid.uuid4())
    info = knit.store.import_dir(source, knit_id, progress=progress)
    return _register(knit, knit_id, user_tags, info)


def push_tar(
    knit: Knit,
    stream: BinaryIO,
    tags: Sequence[str] = (),
    *,
    progress: Progress | None = None,
    sha256: str | None = None,
) -> dict:
    """Upload a (gzipped) tar stream as new Data; unsafe members are refused before anything is kept.

    With ``sha256`` (hex), the whole stream must hash to it (a transfer check for uploads over the network):
    on a mismatch the unpacked content is removed and no Data is registered.
    """
    user_tags = parse_user_tags(tags)
    hashing = _HashingReader(stream, _expected_sha256(sha256)) if sha256 is not None else None
    knit_id = str(uuid.uuid4())
    info = knit.store.import_tar(hashing or stream, knit_id, progress=progress)
    if hashing is not None:
        try:
            hashing.verify()
        except BaseException:
            knit.store.delete(knit_id)
            raise
    return _register(knit, knit_id, user_tags, info)


def _expected_sha256(text: str) -> str:
    digest = text.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InvalidInput(f"not a hex SHA-256 digest: {text!r}", field="checksum")
    return digest


class _HashingReader:
    """Hashes what the archive reader consumes; ``verify`` reads the rest (bytes after the tar's end too)."""

    def __init__(self, raw: BinaryIO, expected: str) -> None:
        self._raw = raw
        self._expected = expected
        self._hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._hash.update(data)
        return data

    def verify(self) -> None:
        while self.read(CHUNK):
            pass
        actual, expected = self._hash.hexdigest(), self._expected
        if actual != expected:
            raise InvalidInput(
                f"checksum mismatch: the upload's SHA-256 is {actual}, the client sent {expected}; nothing was kept",
                field="checksum",
            )


def show(knit: Knit, knit_id: str) -> dict:
    with read_tx(knit.engine) as conn:
        found = data_details(conn, [knit_id])
    if not found:
        raise NotFound(f"data not found: {knit_id}")
    return found[0]


def time_window(since: str | None, duration: str | None) -> tuple[int | None, int | None]:
    if duration is not None and since is None:
        raise InvalidInput("--duration needs --since", field="duration")
    since_ms = parse_rfc3339(since, field="since") if since is not None else None
    until_ms = since_ms + parse_duration(duration) if since_ms is not None and duration is not None else None
    return since_ms, until_ms


def find(
    knit: Knit,
    tags: Sequence[str] = (),
    *,
    transient: str = "both",
    since: str | None = None,
    duration: str | None = None,
) -> list[dict]:
    """Data carrying all ``tags`` (system tags allowed), filtered by transience and a time window."""
    if transient not in TRANSIENT_CHOICES:
        raise InvalidInput(f"unknown --transient value: {transient} (both, yes or no)", field="transient")
    parsed = [parse_tag(t, field=f"tag[{i}]") for i, t in enumerate(tags)]
    since_ms, until_ms = time_window(since, duration)
    with read_tx(knit.engine) as conn:
        ids = catalog_data.find_data(
            conn, parsed, transient=TRANSIENT_CHOICES[transient], since_ms=since_ms, until_ms=until_ms
        )
        return data_details(conn, ids)


def tag(
    knit: Knit, knit_id: str, *, add: Sequence[str] = (), remove: Sequence[str] = (), remove_keys: Sequence[str] = ()
) -> dict:
    """Edit user tags atomically: removals (tags, then keys) before additions; Runs may follow."""
    to_add = parse_user_tags(add, field="add")
    to_remove = parse_user_tags(remove, field="remove")
    keys = [k.strip() for k in remove_keys]
    with write_tx(knit.engine) as conn:
        catalog_data.edit_tags(conn, knit_id, add=to_add, remove=to_remove, remove_keys=keys)
    return show(knit, knit_id)


def export_tar(knit: Knit, knit_id: str, out: BinaryIO, *, progress: Progress | None = None) -> None:
    """Stream a Data's content as tar.gz (``knit data pull``)."""
    show(knit, knit_id)
    knit.store.export_tar(knit_id, out, progress=progress)


def extract(knit: Knit, knit_id: str, dest: Path | str) -> Path:
    """Copy a Data's content to ``DEST/<knit id>/`` (``knit data pull -x``)."""
    show(knit, knit_id)
    return knit.store.extract_to(knit_id, Path(dest))
