"""``DataStore``: the one interface to where Data content lives, and ``open_store`` choosing it from a URL.

``file:///path`` (or no URL: ``<knit home>/data``) is the local store, one directory per Data; ``s3://``,
``gs://``, ``abfs://`` (any fsspec protocol) is the object store. Everything above ``storage/`` talks to a
``DataStore`` and never learns which one it has. Credentials never pass through here as settings: the caller
hands a ready fsspec filesystem (an Airflow adapter resolves a connection through ``ObjectStoragePath``), or
fsspec finds them where its libraries look (``AWS_*`` variables, ``~/.aws``, a pod's service account...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

from knit_provider.core.errors import InvalidInput
from knit_provider.core.store_urls import EXTRA_OF, describe, is_local
from knit_provider.storage.leftovers import Leftover
from knit_provider.storage.tree import ContentInfo, Progress

DEFAULT_CACHE_SIZE = 20 << 30


class DataStore(Protocol):
    """What the service layer asks of a Data store (``LocalStore``, ``ObjectStore``)."""

    @property
    def url(self) -> str: ...

    def exists(self, knit_id: str) -> bool: ...
    def measure(self, knit_id: str) -> ContentInfo: ...

    def import_dirs(
        self, sources: Sequence[Path], knit_ids: Sequence[str], *, progress: Progress | None = ...,
        follow_links: bool = ...,
    ) -> list[ContentInfo]: ...  # fmt: skip
    def import_tar(
        self, fileobj: BinaryIO, knit_id: str, *, progress: Progress | None = ..., max_bytes: int | None = ...
    ) -> ContentInfo: ...
    def import_tar_parts(
        self, fileobj: BinaryIO, knit_ids: Sequence[str], *, progress: Progress | None = ...,
        max_bytes: int | None = ...,
    ) -> list[ContentInfo]: ...  # fmt: skip
    def import_tree(self, source: Any, knit_id: str, *, progress: Progress | None = ...) -> ContentInfo: ...
    def open_tree(self, knit_id: str) -> Any: ...
    def delete(self, knit_id: str) -> None: ...

    def export_tar(self, knit_id: str, out: BinaryIO, *, gzip: bool = ..., progress: Progress | None = ...) -> None: ...
    def extract_to(self, knit_id: str, dest: Path, *, replace: bool = ..., progress: Progress | None = ...) -> Path: ...
    def read_file(self, knit_id: str, name: str, offset: int = ...) -> bytes: ...
    def file_size(self, knit_id: str, name: str) -> int: ...

    # a Run's Data on the machine that runs it
    def input_dir(self, knit_id: str) -> Path: ...
    def staged(self, knit_ids: Sequence[str]) -> AbstractContextManager[list[Path]]: ...
    def output_dir(self, knit_id: str) -> Path: ...
    def commit_output(self, knit_id: str) -> ContentInfo: ...

    # housekeeping (``knit admin doctor``)
    def leftovers(self, older_than_s: float) -> tuple[list[Leftover], list[Leftover]]: ...
    def size_of(self, leftover: Leftover) -> int: ...
    def remove_leftover(self, leftover: Leftover) -> None: ...
    def claim_sweep(self, every_s: float) -> bool: ...


def open_store(
    url: str | None,
    *,
    home: Path,
    fs: Any = None,
    options: Mapping[str, Any] | None = None,
    cache_dir: Path | None = None,
    cache_size: int = DEFAULT_CACHE_SIZE,
) -> DataStore:
    """The store ``url`` names (see the module docstring); ``fs`` a ready filesystem for an object store, or a
    factory of one (None: ``fsspec.filesystem(protocol, **options)``), made on first use; ``cache_dir`` (default
    ``<home>/cache``) this machine's cache."""
    from knit_provider.storage.local import LocalStore

    if is_local(url):
        parts = urlsplit(url or "")
        if parts.netloc not in ("", "localhost"):
            raise InvalidInput(f"a file:// Data store is on this machine, not {parts.netloc!r}", field="data_store")
        path = Path(unquote(parts.path)) if parts.path else home / "data"
        return LocalStore(path)
    parts = urlsplit(url or "")
    if not parts.netloc:
        raise InvalidInput(f"{describe(url or '')} names no bucket or container (write {parts.scheme}://BUCKET/PREFIX)",
                           field="data_store")  # fmt: skip
    if parts.username or parts.password:
        raise InvalidInput("credentials do not belong in the Data store URL: use a connection or the "
                           "provider's variables", field="data_store")  # fmt: skip
    from knit_provider.storage.objects import ObjectStore

    given = fs

    def make() -> Any:
        """The given filesystem (a factory's, if it makes one), else fsspec's for the scheme with ``options``."""
        made = given() if callable(given) and not hasattr(given, "protocol") else given
        return made if made is not None else _filesystem(parts.scheme, dict(options or {}))

    root = f"{parts.netloc}{parts.path}".rstrip("/")
    return ObjectStore(make, root, url=describe(url or ""), work_dir=cache_dir or home / "cache", cache_size=cache_size)


def _filesystem(protocol: str, options: dict[str, Any]) -> Any:
    import fsspec

    try:
        return fsspec.filesystem(protocol, **options)
    except (ImportError, ValueError) as err:
        extra = EXTRA_OF.get(protocol, protocol)
        raise InvalidInput(
            f"cannot open a {protocol}:// Data store: {err} (pip install 'airflow-provider-knit[{extra}]')",
            field="data_store",
        ) from None
