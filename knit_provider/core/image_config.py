"""A container image's run configuration, read from a ``docker save`` tar or (beyond Knitfab) a Dockerfile.

Pure: stdlib only. Errors are ``InvalidInput``; the texts for image selection are Knitfab's own.
"""

from __future__ import annotations

import json
import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from knit_provider.core.documents import load_json
from knit_provider.core.errors import InvalidInput, shown
from knit_provider.core.k8s_names import check_image

__all__ = ["ImageConfig", "clean_path", "read_docker_save", "read_dockerfile"]

_JSON_LIMIT = 16 << 20  # manifests and configs are small; bigger members are layers, never read into memory


@dataclass(frozen=True)
class ImageConfig:
    repository: str
    tag: str
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    volumes: list[str] = field(default_factory=list)
    workdir: str = ""  # "" = not set (the container starts in "/")
    env: dict[str, str] = field(default_factory=dict)

    @property
    def image(self) -> str:
        return f"{self.repository}:{self.tag}"


def clean_path(path: str) -> str:
    """Go's ``path.Clean``: lexical, ``//x`` -> ``/x``, ``""`` -> ``.``."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


# ---------------------------------------------------------------------------------------------------------------
# docker save


def _cut_image_tag(name: str) -> tuple[str, str] | None:
    index = name.rfind(":")  # as Knitfab's cutImageTag: at the last ':', which must not be the first character
    return (name[:index], name[index + 1 :]) if index > 0 else None


def _familiar(name: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _json_members(stream: BinaryIO) -> dict[str, bytes]:
    """Every small member that looks like JSON, by normalised name; one sequential pass (stdin works)."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                if not member.isfile() or member.size > _JSON_LIMIT:
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                head = handle.read(1)
                if head and head in b"{[ \t\r\n":
                    files[posixpath.normpath(member.name).lstrip("/")] = head + handle.read()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidInput(f"cannot read the image tar (expected the output of 'docker save'): {exc}") from None
    return files


def _load(files: dict[str, bytes], name: str, *, what: str) -> Any:
    if name not in files:
        raise InvalidInput(f"broken image tar: {what} {shown(name)} is not in it")
    return load_json(files[name], source=f"broken image tar: {what} {shown(name)}")


def _blob_name(digest: object) -> str:
    algorithm, _, hexdigest = str(digest).partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _oci_config(files: dict[str, bytes], descriptor: dict[str, Any], depth: int = 0) -> tuple[str, Any] | None:
    """Follow an OCI descriptor (index / manifest list / manifest) to (config digest, config JSON), if present."""
    name = _blob_name(descriptor.get("digest"))
    annotations = descriptor.get("annotations") or {}
    platform = descriptor.get("platform") or {}
    if (
        depth > 8
        or name not in files
        or annotations.get("vnd.docker.reference.type")
        or platform.get("os") == "unknown"
    ):
        return None
    document = _load(files, name, what="OCI blob")
    if not isinstance(document, dict):
        return None
    for sub in document.get("manifests") or []:  # an index: the first platform whose blobs are in the tar
        found = _oci_config(files, sub, depth + 1) if isinstance(sub, dict) else None
        if found is not None:
            return found
    config = document.get("config")
    if isinstance(config, dict) and _blob_name(config.get("digest")) in files:
        return str(config["digest"]), _load(files, _blob_name(config["digest"]), what="image config")
    return None


def _oci_ref(annotations: dict[str, Any]) -> str | None:
    name = annotations.get("io.containerd.image.name") or annotations.get("org.opencontainers.image.ref.name")
    if not isinstance(name, str) or "@" in name or name.rfind(":") <= name.rfind("/"):
        return None  # a bare tag ("v1") or a digest names no repository
    return _familiar(name)


def _images(files: dict[str, bytes]) -> list[tuple[list[str], Any]]:
    """(repo tags, config JSON) per distinct image, in the tar's order."""
    groups: dict[str, tuple[list[str], Any]] = {}
    if "manifest.json" in files:  # the docker layout (docker >= 25 writes it next to its OCI index.json)
        manifest = _load(files, "manifest.json", what="manifest")
        if not isinstance(manifest, list):
            raise InvalidInput("broken image tar: manifest.json is not a list")
        for entry in manifest:
            if not isinstance(entry, dict):
                raise InvalidInput(f"broken image tar: manifest.json entry {shown(entry)} is not an object")
            config_name = posixpath.normpath(str(entry.get("Config"))).lstrip("/")
            if config_name not in groups:
                groups[config_name] = ([], _load(files, config_name, what="image config"))
            tags = groups[config_name][0]
            tags.extend(t for t in dict.fromkeys(map(str, entry.get("RepoTags") or [])) if t not in tags)
    elif "index.json" in files:  # the OCI image layout
        index = _load(files, "index.json", what="OCI index")
        for descriptor in (index.get("manifests") if isinstance(index, dict) else None) or []:
            found = _oci_config(files, descriptor) if isinstance(descriptor, dict) else None
            if found is None:
                continue
            tags = groups.setdefault(found[0], ([], found[1]))[0]
            ref = _oci_ref(descriptor.get("annotations") or {})
            if ref and ref not in tags:
                tags.append(ref)
    else:
        raise InvalidInput("not a 'docker save' tar: it has neither manifest.json nor index.json")
    return list(groups.values())


def _str_list(value: object, what: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput(f"broken image config: {what} must be a list of strings, got {shown(value)}")
    return list(value)


def read_docker_save(stream: BinaryIO, wanted: str | None) -> ImageConfig:
    """The configuration of the image ``wanted`` (``repo:tag``), or of the only image, in a ``docker save`` tar."""
    images = _images(_json_members(stream))
    if not wanted:
        if len(images) > 1:
            raise InvalidInput("multiple images found, specify the image tag")
        if not images:
            raise InvalidInput("no image found")
        tags, document = images[0]
    else:
        matching = [img for img in images if any(t == wanted or _familiar(t) == _familiar(wanted) for t in img[0])]
        if not matching:
            raise InvalidInput(f"specified image tag '{wanted}' is not found")
        tags, document = matching[0]
    repository, tag = _cut_image_tag(wanted or "") or (_cut_image_tag(tags[0]) if tags else None) or ("", "")
    config = (document.get("config") if isinstance(document, dict) else None) or {}
    if not isinstance(config, dict):
        raise InvalidInput(f"broken image config: 'config' must be an object, got {shown(config)}")
    volumes = config.get("Volumes") or {}
    env = _str_list(config.get("Env"), "Env") or []
    return ImageConfig(
        repository=repository or "IMAGE",
        tag=tag or "TAG",
        entrypoint=_str_list(config.get("Entrypoint"), "Entrypoint"),
        cmd=_str_list(config.get("Cmd"), "Cmd"),
        volumes=sorted(str(v) for v in volumes),
        workdir=str(config.get("WorkingDir") or ""),
        env=dict(item.partition("=")[::2] for item in env),
    )


# ---------------------------------------------------------------------------------------------------------------
# Dockerfile (beyond Knitfab: `knit plan template --from-dir DIR`)

_DIRECTIVE_RE = re.compile(r"#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(\S*)\s*")
_HEREDOC_RE = re.compile(r"(?<!<)<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
_INSTRUCTION_RE = re.compile(r"\s*([A-Za-z]+)(?:\s+(.*))?", re.DOTALL)
_VAR_RE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_FROM_RE = re.compile(r"(?:--\S+\s+)*(\S+)(?:\s+[Aa][Ss]\s+(\S+))?\s*")


@dataclass
class _Stage:
    name: str | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    cmd_set: bool = False  # CMD given in this stage: a later ENTRYPOINT keeps it
    volumes: list[str] = field(default_factory=list)
    workdir: str = ""
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    shell: list[str] = field(default_factory=lambda: ["/bin/sh", "-c"])

    def inherit(self, name: str | None) -> _Stage:
        copies = {"volumes": list(self.volumes), "env": dict(self.env), "shell": list(self.shell)}
        return replace(self, name=name, cmd_set=False, args={}, **copies)

    def scope(self) -> dict[str, str]:
        return {**self.args, **self.env}


def _logical_lines(text: str) -> list[tuple[int, str, str]]:
    """(first line number, instruction line with continuations joined, escape character)."""
    lines = text.splitlines()
    escape, start = "\\", 0
    while start < len(lines) and (m := _DIRECTIVE_RE.fullmatch(lines[start])):
        if m.group(1).lower() == "escape" and m.group(2) in ("\\", "`"):
            escape = m.group(2)
        start += 1
    result: list[tuple[int, str, str]] = []
    parts: list[str] = []
    first = 0
    heredocs: list[str] = []
    for number, raw in enumerate(lines[start:], start=start + 1):
        if heredocs:
            if raw.strip() == heredocs[0]:
                heredocs.pop(0)
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # blank lines and comments, also inside a continuation
        body = raw.rstrip()
        if not parts:
            first = number
        if body.endswith(escape):
            parts.append(body[: -len(escape)])
            continue
        parts.append(body)
        line, parts = "".join(parts), []
        result.append((first, line, escape))
        if re.match(r"\s*(RUN|COPY|ADD)\s", line, re.IGNORECASE):
            heredocs = [m.group(2) for m in _HEREDOC_RE.finditer(line)]
    if parts:
        result.append((first, "".join(parts), escape))
    return result


def _words(text: str, scope: dict[str, str], escape: str, *, split: bool = True) -> list[str]:
    """Docker's word processing: quotes removed, ``$X`` / ``${X}`` / ``${X:-d}`` / ``${X:+a}`` expanded outside
    single quotes, the escape character escapes; split on unquoted whitespace unless ``split`` is false."""

    def expand(m: re.Match[str]) -> str:
        value = scope.get(m.group(1) or m.group(4), "")
        if m.group(2) == "-":
            return value or m.group(3)
        if m.group(2) == "+":
            return m.group(3) if value else ""
        return value

    words: list[str] = []
    current: list[str] = []
    started, quote, i = False, "", 0
    while i < len(text):
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                current.append(ch)
            i += 1
            continue
        if split and not quote and ch.isspace():
            if started:
                words.append("".join(current))
            current, started = [], False
            i += 1
            continue
        started = True
        if ch == escape and i + 1 < len(text):
            if quote and text[i + 1] not in ('"', escape, "$"):
                current.append(ch)
            current.append(text[i + 1])
            i += 2
        elif ch in "'\"" and (not quote or ch == quote):
            quote = "" if quote else ch
            i += 1
        elif ch == "$" and (m := _VAR_RE.match(text, i)):
            current.append(expand(m))
            i = m.end()
        else:
            current.append(ch)
            i += 1
    if started:
        words.append("".join(current))
    return words


def _json_array(text: str) -> list[str] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def dockerfile_instructions(path: Path) -> Iterator[tuple[str, str, str, str]]:
    """``(where, KEYWORD, rest, escape)`` for each instruction of a Dockerfile; ``where`` is ``file:line``.

    The one lexer for every reader of Dockerfiles (image settings here, COPY'd files in the process runner).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    for number, line, escape in _logical_lines(text):
        where = f"{path}:{number}"
        m = _INSTRUCTION_RE.fullmatch(line)
        if m is None:
            raise InvalidInput(f"{where}: not a Dockerfile instruction: {shown(line.strip())}")
        yield where, m.group(1).upper(), (m.group(2) or "").strip(), escape


def read_dockerfile(context_dir: Path, image: str | None) -> ImageConfig:
    """ENTRYPOINT, CMD, VOLUME, WORKDIR and ENV of the last stage of ``context_dir/Dockerfile``.

    The repository defaults to the directory name (lowercased, sanitised) and the tag to ``latest``; ``image``
    (``repo[:tag]``) overrides both. A base image's own settings are unknown, so a stage built ``FROM`` an external
    image starts empty; one built from an earlier stage inherits it.
    """
    path = Path(context_dir) / "Dockerfile"
    global_args: dict[str, str] = {}
    stages: list[_Stage] = []
    for where, keyword, rest, escape in dockerfile_instructions(path):
        stage = stages[-1] if stages else None
        scope = stage.scope() if stage else global_args
        if keyword == "FROM":
            fm = _FROM_RE.fullmatch(" ".join(_words(rest, global_args, escape)))
            if fm is None:
                raise InvalidInput(f"{where}: FROM needs an image")
            base = next((s for s in reversed(stages) if s.name == fm.group(1).lower()), None)
            name = fm.group(2).lower() if fm.group(2) else None
            stages.append(base.inherit(name) if base else _Stage(name))
        elif keyword == "ARG":
            for word in _words(rest, scope, escape):
                key, sep, value = word.partition("=")
                if stage is None:
                    global_args[key] = value
                elif sep or key in global_args:
                    stage.args[key] = value if sep else global_args[key]
        elif stage is None:
            raise InvalidInput(f"{where}: {keyword} before the first FROM")
        elif keyword in ("ENTRYPOINT", "CMD"):
            exec_form = _json_array(rest)
            argv = exec_form if exec_form is not None else [*stage.shell, rest]
            if keyword == "CMD":
                stage.cmd, stage.cmd_set = argv or None, True
            else:
                stage.entrypoint = argv or None
                if not stage.cmd_set:
                    stage.cmd = None  # as docker: ENTRYPOINT drops a CMD inherited from the base
        elif keyword == "SHELL":
            stage.shell = _json_array(rest) or stage.shell
        elif keyword == "VOLUME":
            exec_form = _json_array(rest)
            if exec_form is None:
                items = _words(rest, scope, escape)
            else:
                items = [" ".join(_words(v, scope, escape, split=False)) for v in exec_form]
            stage.volumes.extend(v for v in items if v and v not in stage.volumes)
        elif keyword == "WORKDIR":
            target = " ".join(_words(rest, scope, escape, split=False))
            stage.workdir = clean_path(posixpath.join(stage.workdir or "/", target))
        elif keyword == "ENV":
            first = rest.split(None, 1)[0] if rest else ""
            if "=" in first:
                pairs = [w.partition("=") for w in _words(rest, scope, escape)]
                for key, sep, _ in pairs:
                    if not sep or not key:
                        raise InvalidInput(f"{where}: ENV {shown(key)} must be written name=value")
                stage.env.update({key: value for key, _, value in pairs})
            elif first:
                value = rest[len(first) :].strip()
                stage.env[first] = " ".join(_words(value, scope, escape, split=False))
            else:
                raise InvalidInput(f"{where}: ENV needs name=value")
    if not stages:
        raise InvalidInput(f"{path}: no FROM instruction")
    last = stages[-1]
    repository, tag = _default_repository(Path(context_dir)), "latest"
    if image:
        name, colon, given_tag = image.rpartition(":")
        repository, tag = (name, given_tag) if colon and "/" not in given_tag else (image, "latest")
        check_image(f"{repository}:{tag}", field="image")
    return ImageConfig(repository, tag, last.entrypoint, last.cmd, list(last.volumes), last.workdir, dict(last.env))


def _default_repository(context_dir: Path) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", context_dir.absolute().resolve().name.lower())) or "image"
