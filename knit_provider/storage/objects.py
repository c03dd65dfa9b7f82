"""The object Data store: Data on S3, GCS or Azure Blob (any fsspec filesystem), with no shared filesystem.

Layout under the store's root (``bucket/prefix``)::

    manifests/<knit id>.json          the commit of a Data (``storage.manifest``): written last
    staging/<knit id>/<token>/<n>     the Data's file contents, named by number; ``.alive`` while being written

A Data exists when its manifest does; its objects are read only through it. Imports write objects first and
the manifest last (``object_writer``); deletions remove the manifest first and the objects after; whatever a
crash leaves is a staging prefix no manifest names, swept by age (``leftovers``). Reads verify every byte
against the manifest. A Run's program never sees the store: its inputs are fetched into this machine's cache
(``storage.cache``) and mounted from there; its outputs are written to a local directory and uploaded when the
program has ended (``commit_output``). The same methods as ``LocalStore``: nothing above ``storage/`` knows
which store it has.
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import os
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from knit_provider.core.errors import Conflict, KnitError, NotFound, StoreUnavailable
from knit_provider.storage import archive, tree
from knit_provider.storage.cache import InputCache
from knit_provider.storage.leftovers import Leftover, check_id
from knit_provider.storage.manifest import Manifest
from knit_provider.storage.object_reading import ManifestReader, materialise
from knit_provider.storage.object_writer import DataWriter
from knit_provider.storage.safety import check_tree_links
from knit_provider.storage.source import SourceTree
from knit_provider.storage.transfer import PART_SIZE, WORKERS, Progress, Transfers
from knit_provider.storage.tree import ContentInfo

MANIFESTS = "manifests"
STAGING = "staging"
LAST_SWEEP = ".last-sweep"


class ObjectStore:
    """Data content under ``root`` of the fsspec filesystem ``fs`` (see the module docstring).

    ``fs`` may be a factory, called on first use. ``work_dir`` is this machine's own: the input cache (bounded by
    ``cache_size`` bytes) and the outputs of the Runs it executes. ``url`` names the store in messages (never
    credentials).
    """

    def __init__(
        self,
        fs: Any,
        root: str,
        *,
        url: str,
        work_dir: Path,
        cache_size: int,
        workers: int = WORKERS,
        part_size: int = PART_SIZE,
    ) -> None:
        self._fs, self._fs_lock = fs, threading.Lock()
        self.root = root.rstrip("/")
        self.url = url
        self.work_dir = Path(work_dir)
        self.cache = InputCache(self.work_dir / "inputs", cache_size)
        self.workers, self.part_size = workers, part_size
        (self.work_dir / "outputs").mkdir(parents=True, exist_ok=True)
        self._held: dict[tuple[str, ...], ExitStack] = {}

    @property
    def fs(self) -> Any:
        """The fsspec filesystem; made on first use when given as a factory (opening a catalog, e.g. to parse
        DAGs, never needs the store, nor its credentials)."""
        if callable(self._fs) and not hasattr(self._fs, "protocol"):
            with self._fs_lock:
                if callable(self._fs) and not hasattr(self._fs, "protocol"):
                    self._fs = self._fs()
        return self._fs

    def transfers(self) -> Transfers:
        return Transfers(self.fs, workers=self.workers, part_size=self.part_size)

    # ---- keys ----------------------------------------------------------------------------------------------------

    def manifest_key(self, knit_id: str) -> str:
        return f"{self.root}/{MANIFESTS}/{check_id(knit_id)}.json"

    def staging_key(self, knit_id: str, token: str) -> str:
        """Relative to the root: what a manifest's ``objects`` holds."""
        return f"{STAGING}/{check_id(knit_id)}/{token}"

    # ---- queries -------------------------------------------------------------------------------------------------

    def manifest(self, knit_id: str) -> Manifest | None:
        """The Data's manifest, None when it has none (not committed, or deleted)."""
        key = self.manifest_key(knit_id)
        try:
            raw = self._call(self.fs.cat_file, key)
        except FileNotFoundError:
            return None
        return Manifest.from_bytes(bytes(raw), f"{self.url}/{MANIFESTS}/{knit_id}.json")

    def require(self, knit_id: str) -> Manifest:
        found = self.manifest(knit_id)
        if found is None:
            raise NotFound(f"Data {knit_id!r} has no content in the store")
        return found

    def exists(self, knit_id: str) -> bool:
        return self.manifest(knit_id) is not None

    def measure(self, knit_id: str) -> ContentInfo:
        return self.require(knit_id).info

    def write_manifest(self, manifest: Manifest) -> None:
        self._call(self.fs.pipe_file, self.manifest_key(manifest.knit_id), manifest.to_bytes())

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """A store call; a refusal or an unreachable store is one ``StoreUnavailable`` line naming the store."""
        try:
            return fn(*args, **kwargs)
        except (FileNotFoundError, KnitError):
            raise
        except (PermissionError, OSError, ValueError) as err:
            raise StoreUnavailable(f"Data store {self.url}: {type(err).__name__}: {err}") from None

    # ---- imports -------------------------------------------------------------------------------------------------

    def import_dir(
        self, src: Path, knit_id: str, *, progress: Progress | None = None, follow_links: bool = False
    ) -> ContentInfo:
        return self.import_dirs([src], [knit_id], progress=progress, follow_links=follow_links)[0]

    def import_dirs(
        self,
        sources: Sequence[Path],
        knit_ids: Sequence[str],
        *,
        progress: Progress | None = None,
        follow_links: bool = False,
    ) -> list[ContentInfo]:
        """Upload several user directories, all or nothing: every tree is checked before a byte is sent, every
        manifest is written only once every object of every tree is stored."""
        for knit_id in knit_ids:
            self._check_new(knit_id)
        with ExitStack() as stack:
            checked = []
            for src in sources:
                source = stack.enter_context(SourceTree(src, label=str(src), follow_links=follow_links))
                entries = source.walk(validate=True)
                links = [rel for rel, kind, _ in entries if kind == "l"]
                if links:
                    check_tree_links(Path(src), links)
                checked.append((source, entries))
            transfers = stack.enter_context(self.transfers())
            writers = []
            for (source, entries), knit_id in zip(checked, knit_ids, strict=True):
                writer = stack.enter_context(DataWriter(self, knit_id, transfers))
                _send_tree(writer, source, entries, progress)
                writers.append(writer)
            return self._commit_all(writers)

    def import_tar(
        self, fileobj: BinaryIO, knit_id: str, *, progress: Progress | None = None, max_bytes: int | None = None
    ) -> ContentInfo:
        """Unpack a streamed tar (plain, gz, bz2 or xz) as ``knit_id``, member by member straight to the store,
        refusing unsafe members and stopping past ``max_bytes``, as ``LocalStore.import_tar``."""
        return self.import_tar_parts(fileobj, [knit_id], progress=progress, max_bytes=max_bytes, parts=False)[0]

    def import_tar_parts(
        self,
        fileobj: BinaryIO,
        knit_ids: Sequence[str],
        *,
        progress: Progress | None = None,
        max_bytes: int | None = None,
        parts: bool = True,
    ) -> list[ContentInfo]:
        for knit_id in knit_ids:
            self._check_new(knit_id)
        quota = archive.Quota(max_bytes)
        with ExitStack() as stack:
            transfers = stack.enter_context(self.transfers())
            writers = [stack.enter_context(DataWriter(self, k, transfers)) for k in knit_ids]
            with archive.open_upload(fileobj) as upload:
                for member in upload:
                    quota.charge(member)
                    part = archive.split_part(member, len(knit_ids)) if parts else 0
                    if part is not None:
                        writers[part].add_member(upload, member, progress)
                    transfers.check()
            return self._commit_all(writers)

    def import_tree(self, source: Any, knit_id: str, *, progress: Progress | None = None) -> ContentInfo:
        """Copy a Data another store holds (``source``: a ``TreeSource``) in as ``knit_id`` (migrate-store)."""
        self._check_new(knit_id)
        with self.transfers() as transfers, DataWriter(self, knit_id, transfers) as writer:
            for entry in source.entries:
                if entry.kind == "d":
                    writer.add_dir(entry.path)
                elif entry.kind == "l":
                    writer.add_link(entry.path, entry.target)
                else:
                    with source.open(entry) as reader:
                        writer.add_file(entry.path, reader, entry.mode, entry.mtime, progress)
            return self._commit_all([writer])[0]

    def _commit_all(self, writers: list[DataWriter]) -> list[ContentInfo]:
        """Seal every writer (all objects stored, all trees checked), then write the manifests; if one fails,
        the ones written are deleted again, so several Data appear together or not at all."""
        sealed = [w.seal() for w in writers]
        written: list[str] = []
        try:
            for writer, manifest in zip(writers, sealed, strict=True):
                if self.manifest(writer.knit_id) is not None:
                    raise Conflict(f"Data {writer.knit_id!r} already has content in the store")
                self.write_manifest(manifest)
                written.append(writer.knit_id)
                writer.close()
        except BaseException:
            for knit_id in written:
                self.delete(knit_id)
            raise
        for manifest in sealed:
            self._prune(manifest)
        return [m.info for m in sealed]

    def _prune(self, manifest: Manifest) -> None:
        """Remove staging prefixes of this knit id that its manifest does not name (an earlier attempt killed
        mid-upload, e.g. a pod's uploader): a committed Data keeps only its own, which the sweep relies on."""
        base = f"{self.root}/{STAGING}/{manifest.knit_id}"
        self.fs.invalidate_cache(base)
        with contextlib.suppress(FileNotFoundError):
            for info in self.fs.ls(base, detail=True):
                relative = info["name"].rstrip("/")[len(self.root) + 1 :]
                if relative != manifest.objects:
                    self.remove_prefix(relative)

    def _check_new(self, knit_id: str) -> None:
        if self.manifest(knit_id) is not None:
            raise Conflict(f"Data {knit_id!r} already has content in the store")

    # ---- deletion ------------------------------------------------------------------------------------------------

    def delete(self, knit_id: str) -> None:
        """The manifest first (the Data is gone at once), then every object staged for this knit id."""
        with contextlib.suppress(FileNotFoundError):
            self._call(self.fs.rm_file, self.manifest_key(knit_id))
        self.remove_prefix(f"{STAGING}/{check_id(knit_id)}")

    def remove_prefix(self, prefix: str) -> None:
        path = f"{self.root}/{prefix}"
        with contextlib.suppress(FileNotFoundError):
            self.fs.invalidate_cache(path)
            self._call(self.fs.rm, path, recursive=True)

    # ---- exports -------------------------------------------------------------------------------------------------

    def open_tree(self, knit_id: str) -> ManifestReader:
        """The Data as a ``TreeSource`` (its entries, each file openable), for copying into another store."""
        return ManifestReader(self, self.require(knit_id))

    def export_tar(self, knit_id: str, out: BinaryIO, *, gzip: bool = True, progress: Progress | None = None) -> None:
        """Stream the Data as tar(.gz) into ``out``, objects fetched ahead in parallel, every byte verified."""
        manifest = self.require(knit_id)
        zipped = gzip_module.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) if gzip else None
        try:
            sink: Any = zipped if zipped is not None else out
            with (
                self.transfers() as transfers,
                tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT, copybufsize=1 << 20) as archive_,
            ):
                ManifestReader(self, manifest).write_tar(archive_, transfers, progress)
        finally:
            if zipped is not None:
                zipped.close()

    def extract_to(self, knit_id: str, dest: Path, *, replace: bool = False, progress: Progress | None = None) -> Path:
        """Download to ``dest/<knit_id>/`` (``knit data pull -x``), verified; it appears there only when complete."""
        manifest = self.require(knit_id)
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        final = dest / knit_id
        if os.path.lexists(final) and not replace:
            raise Conflict(f"{final} already exists")
        work = Path(tempfile.mkdtemp(dir=dest, prefix=f".{knit_id}."))
        try:
            os.chmod(work, 0o755)
            with self.transfers() as transfers:
                materialise(self, manifest, work, transfers, progress)
            tree.place(work, final, replace=replace)
        except BaseException:
            tree.rmtree(work)
            raise
        return final

    def read_file(self, knit_id: str, name: str, offset: int = 0) -> bytes:
        """File ``name`` of a Data from byte ``offset`` (a Run's log): from the store once committed, else from this
        machine's output directory while the Run that writes it runs here; b"" when neither has it."""
        manifest = self.manifest(knit_id)
        if manifest is None:
            local = self.work_dir / "outputs" / check_id(knit_id) / name
            with contextlib.suppress(FileNotFoundError, NotADirectoryError), open(local, "rb") as file:
                file.seek(offset)
                return file.read()
            return b""
        entry = next((e for e in manifest.entries if e.path == name and e.kind == "f"), None)
        if entry is None or offset >= entry.size:
            return b""
        return bytes(self._call(self.fs.cat_file, f"{self.root}/{manifest.objects}/{entry.object}", start=offset))

    def file_size(self, knit_id: str, name: str) -> int:
        """The size of file ``name`` of a Data (as ``read_file`` sees it); 0 when absent."""
        manifest = self.manifest(knit_id)
        if manifest is None:
            with contextlib.suppress(OSError):
                return (self.work_dir / "outputs" / check_id(knit_id) / name).stat().st_size
            return 0
        return next((e.size for e in manifest.entries if e.path == name and e.kind == "f"), 0)

    # ---- a Run's Data on this machine ----------------------------------------------------------------------------

    def input_dir(self, knit_id: str) -> Path:
        """Where a Run's program finds the input ``knit_id``: this machine's cache (filled by ``staged``)."""
        return self.cache.path(check_id(knit_id))

    @contextmanager
    def staged(self, knit_ids: Sequence[str]) -> Iterator[list[Path]]:
        """Fetch the inputs into the cache (verified) and keep them there until the block ends."""

        def fetch(knit_id: str, into: Path) -> int:
            manifest = self.require(knit_id)
            with self.transfers() as transfers:
                materialise(self, manifest, into, transfers, None)
            return manifest.info.size

        with self.cache.hold(list(knit_ids), fetch, lambda k: self.require(k).info.size) as paths:
            yield paths

    def output_dir(self, knit_id: str) -> Path:
        """An empty local directory for a Run's output; uploaded by ``commit_output`` when the program ended."""
        where = self.work_dir / "outputs" / check_id(knit_id)
        if not where.is_dir():
            where.mkdir(mode=0o755)
            os.chmod(where, 0o755)
        return where

    def commit_output(self, knit_id: str) -> ContentInfo:
        """The output as committed Data: its manifest when someone committed it already (a pod's uploader),
        else this machine's output directory uploaded (empty Data when it has none), then removed."""
        existing = self.manifest(knit_id)
        local = self.work_dir / "outputs" / check_id(knit_id)
        if existing is not None:
            tree.rmtree(local)
            return existing.info
        if not local.is_dir():
            local.mkdir(mode=0o755)
        info = self.upload_dir(local, knit_id)
        tree.rmtree(local)
        return info

    def upload_dir(self, local: Path, knit_id: str, progress: Progress | None = None) -> ContentInfo:
        """Commit what a program left in ``local`` as ``knit_id`` (special files skipped, as ``measure`` does)."""
        with SourceTree(local) as source, self.transfers() as transfers:
            entries = source.walk(validate=False)
            with DataWriter(self, knit_id, transfers) as writer:
                _send_tree(writer, source, entries, progress)
                return self._commit_all([writer])[0]

    # ---- housekeeping --------------------------------------------------------------------------------------------

    def leftovers(self, older_than_s: float) -> tuple[list[Leftover], list[Leftover]]:
        from knit_provider.storage.object_sweep import leftovers

        return leftovers(self, older_than_s)

    def size_of(self, leftover: Leftover) -> int:
        from knit_provider.storage.object_sweep import size_of

        return size_of(self, leftover)

    def remove_leftover(self, leftover: Leftover) -> None:
        if leftover.knit_id is not None:
            self.delete(leftover.knit_id)
        elif leftover.name.startswith("local:"):
            tree.rmtree(self.work_dir / leftover.name.removeprefix("local:"))
        else:
            self.remove_prefix(leftover.name)

    def claim_sweep(self, every_s: float) -> bool:
        from knit_provider.storage.object_sweep import claim_sweep

        return claim_sweep(self, every_s)


def _send_tree(writer: DataWriter, source: SourceTree, entries: list, progress: Progress | None) -> None:
    for rel, kind, target in entries:
        if kind == "d":
            writer.add_dir(rel)
        elif kind == "l":
            writer.add_link(rel, source.readlink(rel, target))
        else:
            with source.open_file(rel) as reader:
                st = os.fstat(reader.fileno())
                writer.add_file(rel, reader, st.st_mode, st.st_mtime, progress)
        writer.transfers.check()
