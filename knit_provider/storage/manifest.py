"""A Data's manifest on an object store: every entry's path, kind, size and SHA-256, and where its bytes are.

The manifest is what commits a Data on an object store: its objects are written first, under a staging prefix
of their own (``staging/<knit id>/<token>/``), and the manifest (``manifests/<knit id>.json``) last. A Data
without a manifest does not exist for any reader, so a crash at any point leaves nothing that looks complete;
the staging objects no manifest names are swept later (``ObjectStore.leftovers``).

The checksum is the same one :func:`tree.summarise` gives the same tree on a local disk (kind, path and content
hash of every entry), so a Data keeps its checksum whatever store holds it (``knit admin migrate-store``).
Objects are named by number, not by path: any file name (non-UTF-8 bytes, 255-byte components, deep trees) fits
the store's key rules, and a hard link is a second entry naming the same object.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from knit_provider.core.documents import load_json
from knit_provider.core.errors import InvalidInput
from knit_provider.storage.safety import ROOT, check_link_target, check_member_name, refuse
from knit_provider.storage.tree import ContentInfo, checksum_of

FORMAT = "knit-manifest-v1"
MAX_MANIFEST_BYTES = 1 << 30  # a Data of millions of files still fits; anything larger is not ours
_OBJECT = re.compile(r"[0-9a-f]{1,16}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_HOPS = 40  # symbolic links followed while resolving one path, as Linux's ELOOP limit


@dataclass(frozen=True)
class Entry:
    """One entry of a Data: ``kind`` "d" (directory), "f" (file) or "l" (symbolic link)."""

    path: str  # relative POSIX path, never "." or empty
    kind: str
    size: int = 0
    sha256: str = ""  # files: hex digest of the content
    mode: int = 0o644  # files: 0o644 or 0o755 (``tree.file_mode``)
    mtime: float = 0.0
    target: str = ""  # links
    object: str = ""  # files: the object's name under the Data's staging prefix


@dataclass(frozen=True)
class Manifest:
    knit_id: str
    objects: str  # the staging prefix holding the objects, relative to the store root
    entries: tuple[Entry, ...] = field(default_factory=tuple)

    @property
    def info(self) -> ContentInfo:
        """Checksum, size and file count: what the catalog records for the Data."""
        files = [e for e in self.entries if e.kind != "d"]
        return ContentInfo(
            checksum=checksum_of((e.path, e.kind, e.sha256 if e.kind == "f" else e.target) for e in self.entries),
            size=sum(e.size for e in self.entries if e.kind == "f"),
            files=len(files),
        )

    def to_bytes(self) -> bytes:
        info = self.info
        document = {
            "format": FORMAT,
            "knitId": self.knit_id,
            "objects": self.objects,
            "checksum": info.checksum,
            "size": info.size,
            "files": info.files,
            "entries": [_compact(e) for e in self.entries],
        }
        return json.dumps(document, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes, where: str) -> Manifest:
        """Parse and check a stored manifest; anything malformed is an error naming it (never half-trusted)."""
        if len(raw) > MAX_MANIFEST_BYTES:
            raise InvalidInput(f"manifest {where} is larger than {MAX_MANIFEST_BYTES} bytes")
        try:
            document = load_json(raw, source=f"manifest {where}")
            if document.get("format") != FORMAT:
                raise ValueError(f"unknown format {document.get('format')!r}")
            entries = tuple(Entry(**item) for item in document["entries"])
            manifest = cls(knit_id=document["knitId"], objects=document["objects"], entries=entries)
        except (AttributeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as err:
            raise InvalidInput(f"manifest {where} is not a valid Knit manifest: {err}") from None
        if manifest.info.checksum != document.get("checksum"):
            raise InvalidInput(f"manifest {where} does not match its own checksum (damaged?)")
        check_entries(manifest.entries)
        return manifest


def _compact(entry: Entry) -> dict:
    """The entry without the fields its kind does not use (manifests of many small files stay small)."""
    keep = {"d": ("path", "kind"), "l": ("path", "kind", "target"), "f": tuple(asdict(entry))}[entry.kind]
    values = asdict(entry)
    return {k: values[k] for k in keep if not (entry.kind == "f" and k == "target")}


def resolve(links: dict[str, str], kinds: dict[str, str], rel: str) -> str | None:
    """Where ``rel`` leads inside the tree when every symbolic link on the way is followed, as the kernel would;
    None when it leaves the tree (or loops). ``links`` maps link paths to targets, ``kinds`` every path's kind."""
    pending = [p for p in rel.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if not resolved:
                return None
            resolved.pop()
            continue
        here = "/".join([*resolved, part])
        if kinds.get(here) == "l":
            hops += 1
            if hops > _MAX_HOPS or posixpath.isabs(links[here]):
                return None
            pending = [p for p in links[here].split("/") if p not in ("", ".")] + pending
            continue
        resolved.append(part)
    return "/".join(resolved)


def check_entries(entries: Iterable[Entry]) -> None:
    """A manifest read back is checked as an upload is: clean relative names, each parent a directory listed
    before it, no duplicates, links inside the tree, object names of ours. Materialising it can then never write
    outside its destination, whatever the store holds."""
    kinds: dict[str, str] = {}
    listed = list(entries)
    for entry in listed:
        if check_member_name(entry.path) != entry.path or entry.path == ROOT:
            raise refuse(entry.path, "not a clean relative path")
        if entry.path in kinds:
            raise refuse(entry.path, "listed twice")
        parent = posixpath.dirname(entry.path)
        if parent and kinds.get(parent) != "d":
            raise refuse(entry.path, f"its parent {parent!r} is not a directory listed before it")
        if entry.kind == "l":
            check_link_target(entry.path, entry.target)
        elif entry.kind == "f":
            if not _OBJECT.fullmatch(entry.object) or not _SHA256.fullmatch(entry.sha256) or entry.size < 0:
                raise refuse(entry.path, "a file entry needs an object name, a sha256 and a size")
        elif entry.kind != "d":
            raise refuse(entry.path, f"unknown kind {entry.kind!r}")
        kinds[entry.path] = entry.kind
    check_links(listed)


def check_links(entries: Iterable[Entry]) -> None:
    """Refuse a symbolic link whose resolution leaves the tree: the physical rule of ``safety.check_tree_links``
    (chains such as ``x -> .`` plus ``l -> x/..``), on a tree that exists only as a manifest."""
    listed = list(entries)
    kinds = {e.path: e.kind for e in listed}
    links = {e.path: e.target for e in listed if e.kind == "l"}
    for path, target in links.items():
        if resolve(links, kinds, posixpath.join(posixpath.dirname(path), target)) is None:
            raise refuse(path, f"symlink target {target!r} resolves outside the upload")
