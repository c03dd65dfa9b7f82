"""Image ref -> local build context: how the process runner finds a program, and the docker runner an image to build.

A map file is YAML, a flat mapping ``image-ref: context-dir`` with the directory relative to the map file::

    localhost:30503/knitfab-first-train:v1.0: train

``KNIT_IMAGE_MAP`` lists map files (``os.pathsep``-separated); later files win on duplicates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knit_provider.core.documents import load_yaml
from knit_provider.core.errors import InvalidInput, shown

__all__ = ["ENV_VAR", "ImageMap", "normalize_image"]

ENV_VAR = "KNIT_IMAGE_MAP"


def normalize_image(ref: str) -> str:
    """``repo`` -> ``repo:latest``; ``docker.io/library/x`` -> ``x``. A registry port (``localhost:30503/x``) is not
    a tag: only a ``:`` after the last ``/`` is. Digest refs are kept as they are."""
    ref = ref.strip()
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if ref.startswith(prefix) and len(ref) > len(prefix):
            ref = ref[len(prefix) :]
            break
    if "@" in ref:
        return ref
    return ref if ref.rfind(":") > ref.rfind("/") else f"{ref}:latest"


@dataclass(frozen=True)
class _Entry:
    context: Path  # absolute, resolved against the map file's directory
    source: Path  # the map file
    key: str  # the ref as written there


@dataclass(frozen=True)
class ImageMap:
    entries: Mapping[str, _Entry] = field(default_factory=dict)
    sources: tuple[Path, ...] = ()  # the map files, for messages

    @classmethod
    def load(cls, paths: Sequence[Path | str]) -> ImageMap:
        entries: dict[str, _Entry] = {}
        sources: list[Path] = []
        for item in paths:
            if not str(item).strip():
                continue
            path = Path(item).expanduser().absolute()
            sources.append(path)
            entries.update(_read(path))
        return cls(entries, tuple(sources))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ImageMap:
        value = (os.environ if environ is None else environ).get(ENV_VAR, "")
        return cls.load([p for p in value.split(os.pathsep) if p.strip()])

    def __contains__(self, image: object) -> bool:
        return isinstance(image, str) and normalize_image(image) in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def resolve(self, image: str) -> Path | None:
        """The build context of ``image`` (a directory with a Dockerfile), or None if the map does not know it."""
        entry = self.entries.get(normalize_image(image))
        if entry is None:
            return None
        if not (entry.context / "Dockerfile").is_file():
            problem = "does not exist" if not entry.context.exists() else "has no Dockerfile"
            raise InvalidInput(
                f"image map {entry.source}: entry {entry.key!r}: build context {entry.context} {problem}"
            )
        return entry.context

    def describe(self) -> str:
        """The map files, for "not in the image map (...)" messages."""
        if not self.sources:
            return f"no map files: set {ENV_VAR}"
        return ", ".join(str(s) for s in self.sources)


def _read(path: Path) -> dict[str, _Entry]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"image map {path}: cannot read it ({exc}); check {ENV_VAR}") from None
    document = load_yaml(text, source=f"image map {path}")
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InvalidInput(
            f"image map {path}: expected a mapping 'image-ref: context-dir', got {type(document).__name__}"
        )
    entries: dict[str, _Entry] = {}
    for key, value in document.items():
        if not isinstance(key, str) or not key.strip() or any(c.isspace() for c in key.strip()):
            raise InvalidInput(f"image map {path}: entry {shown(key)}: the key must be an image ref like 'repo:tag'")
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(
                f"image map {path}: entry {key!r}: the value must be a build-context directory, got {value!r}"
            )
        ref = normalize_image(key)
        bare = ref.split("@", 1)[0]
        name = bare[: bare.rfind(":")] if bare.rfind(":") > bare.rfind("/") else bare
        if not name or name.endswith("/") or name.startswith("/"):
            raise InvalidInput(f"image map {path}: entry {shown(key)}: not an image ref (write repo[:tag])")
        context = Path(value.strip()).expanduser()
        entries[ref] = _Entry(Path(os.path.normpath(path.parent / context)), path, key)
    return entries
