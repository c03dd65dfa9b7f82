"""The files a Dockerfile ``COPY``s / ``ADD``s from its build context, and where they land.

The process runner does not build images: it shows these files at their destinations, read-only. Only the last
stage counts (and the stages it is built ``FROM``); ``COPY --from=...``, URLs and heredocs are not context files and
are left out. ``--chown``/``--chmod``/``--link`` are ignored; ``.dockerignore`` is not read; ``ADD`` does not
unpack archives here.

The line splitting and word expansion are ``core.image_config``'s, so both readers agree on the same Dockerfile.
"""

from __future__ import annotations

import glob
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from knit_provider.core.errors import InvalidInput
from knit_provider.core.image_config import (  # private on purpose: one Dockerfile lexer for the package
    _FROM_RE,
    _json_array,
    _words,
    clean_path,
    dockerfile_instructions,
)

__all__ = ["Copy", "ContextFiles", "read_context_files"]

_FLAGS_RE = re.compile(r"((?:--[A-Za-z][A-Za-z-]*(?:=\S*)?\s+)*)(.*)", re.DOTALL)


@dataclass(frozen=True)
class Copy:
    source: Path  # a file, or a directory whose *contents* land in dest (Docker's rule for directory sources)
    dest: str  # absolute path in the image
    contents: bool  # source is a directory


@dataclass(frozen=True)
class ContextFiles:
    copies: tuple[Copy, ...]
    dirs: tuple[str, ...]  # directories the image has that nothing above creates: WORKDIRs, copy destinations
    workdir: str  # "" = not set


@dataclass
class _Stage:
    name: str | None = None
    workdir: str = ""
    copies: list[Copy] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    scope: dict[str, str] = field(default_factory=dict)

    def inherit(self, name: str | None) -> _Stage:
        return replace(self, name=name, copies=list(self.copies), dirs=list(self.dirs), scope=dict(self.scope))


def read_context_files(context_dir: Path, is_dir: Callable[[str], bool] = lambda _: False) -> ContextFiles:
    """What the last stage of ``context_dir/Dockerfile`` copies from the context.

    ``is_dir(path)`` says whether an absolute image path is an existing directory (of the sandbox's root), so
    ``COPY app.py /usr/local/bin`` lands in the directory, as Docker does, instead of replacing it.
    """
    context = Path(context_dir).absolute()
    path = context / "Dockerfile"
    global_args: dict[str, str] = {}
    stages: list[_Stage] = []
    for where, keyword, rest, escape in dockerfile_instructions(path):
        stage = stages[-1] if stages else None
        if keyword == "FROM":
            fm = _FROM_RE.fullmatch(" ".join(_words(rest, global_args, escape)))
            if fm is None:
                raise InvalidInput(f"{where}: FROM needs an image")
            base = next((s for s in reversed(stages) if s.name == fm.group(1).lower()), None)
            name = fm.group(2).lower() if fm.group(2) else None
            stages.append(base.inherit(name) if base else _Stage(name, scope=dict(global_args)))
        elif keyword == "ARG":
            for word in _words(rest, stage.scope if stage else global_args, escape):
                key, sep, value = word.partition("=")
                target = stage.scope if stage else global_args
                if sep or key not in target:
                    target[key] = value if sep else global_args.get(key, "")
        elif stage is None:
            continue  # read_dockerfile reports instructions before FROM
        elif keyword == "ENV":
            _env(stage, rest, escape)
        elif keyword == "WORKDIR":
            target = " ".join(_words(rest, stage.scope, escape, split=False))
            stage.workdir = clean_path(posixpath.join(stage.workdir or "/", target))
            stage.dirs.append(stage.workdir)
        elif keyword in ("COPY", "ADD"):
            _copy(stage, keyword, rest, escape, context, where, is_dir)
    if not stages:
        raise InvalidInput(f"{path}: no FROM instruction")
    last = stages[-1]
    return ContextFiles(tuple(last.copies), tuple(dict.fromkeys(last.dirs)), last.workdir)


def _env(stage: _Stage, rest: str, escape: str) -> None:
    first = rest.split(None, 1)[0] if rest else ""
    if "=" in first:
        for word in _words(rest, stage.scope, escape):
            key, _, value = word.partition("=")
            stage.scope[key] = value
    elif first:
        stage.scope[first] = " ".join(_words(rest[len(first) :].strip(), stage.scope, escape, split=False))


def _copy(
    stage: _Stage, keyword: str, rest: str, escape: str, context: Path, where: str, is_dir: Callable[[str], bool]
) -> None:
    flags_text, body = _FLAGS_RE.fullmatch(rest).groups()  # type: ignore[union-attr]  # the pattern always matches
    flags = [f.split("=", 1)[0].lower() for f in flags_text.split()]
    if "--from" in flags or "<<" in body:
        return  # another stage or image, or an inline heredoc: nothing from the context
    items = _json_array(body)
    if items is None:
        items = _words(body, stage.scope, escape)
    else:
        items = [" ".join(_words(item, stage.scope, escape, split=False)) for item in items]
    if len(items) < 2:
        raise InvalidInput(f"{where}: {keyword} needs a source and a destination")
    *sources, raw_dest = items
    if keyword == "ADD":
        sources = [s for s in sources if "://" not in s and not s.startswith("git@")]
    matches: list[tuple[str, Path]] = []
    for source in sources:
        matches.extend((source, found) for found in _context_paths(context, source, keyword, where))
    if not matches:
        return
    dest = clean_path(posixpath.join(stage.workdir or "/", raw_dest))
    into_dir = (
        raw_dest.endswith(("/", "/.")) or raw_dest == "." or len(matches) > 1 or dest in stage.dirs or is_dir(dest)
    )
    for _, found in matches:
        if found.is_dir():
            stage.copies.append(Copy(found, dest, contents=True))
            stage.dirs.append(dest)
        else:
            stage.copies.append(Copy(found, posixpath.join(dest, found.name) if into_dir else dest, contents=False))
    if into_dir:
        stage.dirs.append(dest)


def _context_paths(context: Path, source: str, keyword: str, where: str) -> list[Path]:
    """The context files a source names (a glob may name several); an escape from the context is refused."""
    relative = posixpath.normpath(source.lstrip("/")) if source.strip("/") else "."
    if relative == ".." or relative.startswith("../"):
        raise InvalidInput(f"{where}: {keyword} source {source!r} is outside the build context {context}")
    if any(ch in relative for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(f"{glob.escape(str(context))}/{relative}"))
        if not found:
            raise InvalidInput(f"{where}: {keyword} source {source!r} matches no file in the build context {context}")
        return found
    candidate = context / relative if relative != "." else context
    if not candidate.exists():
        raise InvalidInput(f"{where}: {keyword} source {source!r} is not in the build context {context}")
    return [candidate]
