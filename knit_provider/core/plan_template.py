"""``knit plan template``: a commented Plan YAML from an image's configuration, or from scratch, as Knitfab writes it.

Pure: stdlib only (the YAML is rendered as text). The output always passes ``plan_spec.parse_plan_yaml`` (except the
``IMAGE:TAG`` placeholder Knitfab writes when the image has no repository tag). Differences from Knitfab:
the key is ``resources:`` (Knitfab writes ``resouces:``, a typo its server ignores); mounts are sorted by path;
a shell-form string is split into words and ``--opt=/in/x`` yields ``/in/x``; overlapping mount paths are left out
with a note; a mount with no tag gets ``example:tag``; an image with no input gets a placeholder ``/in``; knitenv
resources other than cpu and memory are printed too.
"""

from __future__ import annotations

import posixpath
import re
import shlex

from knit_provider.core.errors import InvalidInput, shown
from knit_provider.core.image_config import ImageConfig, clean_path, read_docker_save, read_dockerfile
from knit_provider.core.k8s_names import check_image, mount_paths_conflict, normalize_mount_path
from knit_provider.core.plan_spec import parse_resource
from knit_provider.core.tags import parse_user_tags

__all__ = [
    "ImageConfig", "detect_mounts", "read_docker_save", "read_dockerfile", "template_from_image", "template_scratch",
]  # fmt: skip

_INPUT_RE = re.compile(r"(^|/)in(/|$)")
_OUTPUT_RE = re.compile(r"(^|/)out(/|$)")
_EXAMPLE_TAG = "example:tag"

_ANNOTATIONS_HEAD = """
annotations (optional, mutable):
  Set Annotations of this Plan in list of "key=value" format string.
  You can use this for your own purpose, for example documentation. This does not affect lineage tracking.
  Knitfab Extensions may refer this.
"""
_ANNOTATIONS_FOOT = """  - "key=value"
  - "description=This is a Plan for ..."
"""
_IMAGE_HEAD = """
image:
  Container image to be executed as this Plan.
  This image-tag should be accessible from your knitfab cluster.
"""
_ENTRYPOINT_HEAD = """entrypoint:
  Command to be executed as this Plan image.
  This array overrides the ENTRYPOINT of the image.
"""
_ARGS_HEAD = """args:
  Arguments to be passed to this Plan image.
  This array overrides the CMD of the image.
"""
_INPUTS_HEAD = """inputs:
  List of filepath and Tags as Input of this Plans.
  1 or more Inputs are needed.
  Each filepath should be absolute. Tags should be formatted in "key:value"-style.
"""
_OUTPUTS_HEAD = """outputs:
  List of filepathes and Tags as Output of this Plans.
  See "inputs" for detail.
"""
_LOG_HEAD = """log (optional):
  Set Tags stored log (STDOUT+STDERR of runs of this Plan) as Data.
  If missing or null, log would not be stored.
"""
_ACTIVE_HEAD = """active (optional, mutable):
  To suspend executing Runs by this Plan, set false explicitly.
  If missing or null, it is assumed as true.
"""
_RESOURCES_HEAD = """resource (optional, mutable):
Specify the resource , cpu or memory for example, requirements for this Plan.
This value can be changed after the Plan is applied.

There can be other resources. For them, ask your administrator.

(advanced note: These values are passed to container.resource.limits in kubernetes.)
"""
_CPU_HEAD = """
cpu (optional; default = 1):
  Specify the CPU resource requirements for this Plan.
  This value means "how many cores" the plan will use.
  This can be a fraction, like "0.5" or "500m" (= 500 millicore) for a half of a core.
"""
_MEMORY_HEAD = """
memory (optional; default = 1Gi):
  Specify the memory resource requirements for this Plan.
  This value means "how many bytes" the plan will use.
  You can use suffixes like "Ki", "Mi", "Gi" for kibi-(1024), mebi-(1024^2), gibi-(1024^3) bytes, case sensitive.
  For example, "1Gi" means 1 gibibyte.
  If you omit the suffix, it is assumed as bytes.
"""
_FOOT = """
# # on_node (optional):
# #   Specify the node where this Plan is executed.
# #
# #   For each level (may, prefer and must), you can put node labels or taints in "key=value" format.
# #   Labels show a node characteristic, and taints show a node restriction.
# #   Ask your administrator for the available labels/taints.
# #
# #   By default (= empty), this plan is executed on any node, if the node does not taint.
# on_node:
#   # may: (optional)
#   #   Allow to execute this plan on nodes with these taints, put here.
#   may:
#     - "label-a=value1"
#     - "label-b=value2"
#
#   # prefer: (optional)
#   #   Execute this plan on nodes with these labels & taints, if possible.
#   prefer:
#     - "vram=large"
#
#   # must: (optional)
#   #   Always execute this plan on nodes with these labels & taints
#   #   (taints on node can be subset of this list).
#   #
#   #   If no node matches, runs of the plan will be scheduled but not started.
#   must:
#     - "accelarator=gpu"
#
# # service_account (optional, mutable):
# #   Specify the service account to run this Plan.
# #   If missing or null, the service account is not used.
# service_account: "default"
"""


def _quote(text: str) -> str:
    """A YAML double-quoted scalar; anything not printable is escaped."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _comment(text: str, indent: str = "", notes: list[str] | None = None) -> list[str]:
    """yaml.v3 head comment: each line prefixed with '# ', blank lines kept blank; notes appended."""
    lines = [f"{indent}# {line}" if line else "" for line in text.rstrip("\n").split("\n")]
    if notes:
        lines.append(f"{indent}#")
        lines.extend(f"{indent}#   NOTE: {note}" for note in notes)
    return lines


def _mounts_yaml(mounts: list[tuple[str, list[str]]]) -> list[str]:
    lines: list[str] = []
    for path, tags in mounts:
        lines += [f"  - path: {_quote(path)}", "    tags:", *(f"      - {_quote(t)}" for t in tags)]
    return lines


def _resources(env_resources: dict[str, str]) -> dict[str, str]:
    resources = dict(parse_resource(k, v, field=f"knitenv resource.{k}") for k, v in env_resources.items())
    return {
        "cpu": resources.pop("cpu", "1"),
        "memory": resources.pop("memory", "1Gi"),
        **dict(sorted(resources.items())),
    }


def _scalar(quantity: str) -> str:
    return quantity if re.fullmatch(r"\d+[A-Za-z]*", quantity) else _quote(quantity)


def _render(
    *,
    image: str,
    entrypoint: list[str],
    args: list[str],
    inputs: list[tuple[str, list[str]]],
    outputs: list[tuple[str, list[str]]],
    log_tags: list[str],
    resources: dict[str, str],
    notes: dict[str, list[str]],
) -> str:
    def flow(items: list[str]) -> str:
        return "[" + ", ".join(_quote(item) for item in items) + "]"

    lines = [*_comment(_ANNOTATIONS_HEAD), "annotations: []", *_comment(_ANNOTATIONS_FOOT), ""]
    lines += [*_comment(_IMAGE_HEAD, notes=notes.get("image")), f"image: {_quote(image)}", ""]
    lines += [*_comment(_ENTRYPOINT_HEAD), f"entrypoint: {flow(entrypoint)}", ""]
    lines += [*_comment(_ARGS_HEAD), f"args: {flow(args)}", ""]
    lines += [*_comment(_INPUTS_HEAD, notes=notes.get("inputs")), "inputs:", *_mounts_yaml(inputs), ""]
    lines += [*_comment(_OUTPUTS_HEAD, notes=notes.get("outputs"))]
    lines += ["outputs:", *_mounts_yaml(outputs), ""] if outputs else ["outputs: []", ""]
    lines += [*_comment(_LOG_HEAD), "log:", "  tags:", *(f"    - {_quote(t)}" for t in log_tags), ""]
    lines += [*_comment(_ACTIVE_HEAD), "active: true", ""]
    lines += [
        *_comment(_RESOURCES_HEAD),
        "resources:",
        *_comment(_CPU_HEAD, "  "),
        f"  cpu: {_scalar(resources['cpu'])}",
    ]
    lines += [*_comment(_MEMORY_HEAD, "  "), f"  memory: {_scalar(resources['memory'])}"]
    for name, quantity in resources.items():
        if name not in ("cpu", "memory"):
            lines += ["", f"  {_quote(name)}: {_scalar(quantity)}"]
    return "\n" + "\n".join(lines) + "\n\n" + _FOOT + "\n"


def _candidates(config: ImageConfig) -> list[str]:
    """The strings searched for in/out paths: ENTRYPOINT, CMD and VOLUME items; a string with spaces (shell form)
    is split into words, and ``--opt=VALUE`` contributes VALUE."""
    found: list[str] = []
    for item in [*(config.entrypoint or []), *(config.cmd or []), *config.volumes]:
        try:
            words = shlex.split(item) if any(ch.isspace() for ch in item) else [item]
        except ValueError:
            words = item.split()
        found += [w.partition("=")[2] if w.startswith("-") and "=" in w else w for w in words]
    return found


def _type_tag(path: str, ignore: str) -> str | None:
    for part in reversed(path.split("/")):
        if part.strip() and part != ignore:
            return f"type:{part.strip()}"
    return None


def detect_mounts(config: ImageConfig) -> tuple[list[str], list[str], list[str]]:
    """(input paths, output paths, notes): strings matching ``(^|/)in(/|$)`` are inputs, else ``(^|/)out(/|$)``
    outputs, resolved against WORKDIR and cleaned; paths overlapping an already kept (shallower) one are dropped."""
    workdir = clean_path("/" + (config.workdir or "/"))
    found: dict[str, str] = {}
    for text in _candidates(config):
        kind = "input" if _INPUT_RE.search(text) else "output" if _OUTPUT_RE.search(text) else None
        if kind is None:
            continue
        path = clean_path(text if text.startswith("/") else posixpath.join(workdir, text))
        found.setdefault(path, kind)
    kept: dict[str, str] = {}
    notes: list[str] = []
    for path, kind in sorted(found.items(), key=lambda pk: (pk[0].count("/"), pk[1], pk[0])):
        try:
            normalize_mount_path(path)
        except InvalidInput:
            notes.append(f"{kind} path {shown(path)} was left out: it is not a usable mount path")
            continue
        clash = next((other for other in kept if mount_paths_conflict(other, path)), None)
        if clash is not None:
            notes.append(f"{kind} path {shown(path)} was left out: it overlaps {kept[clash]} path {shown(clash)}")
            continue
        kept[path] = kind
    return (
        sorted(p for p, k in kept.items() if k == "input"),
        sorted(p for p, k in kept.items() if k == "output"),
        notes,
    )


def _env_tags(env_tags: list[str]) -> list[str]:
    return [str(tag) for tag in parse_user_tags(env_tags, field="knitenv tag")]


def template_from_image(config: ImageConfig, *, env_tags: list[str], env_resources: dict[str, str]) -> str:
    """The Plan YAML for an image: ENTRYPOINT/CMD as entrypoint/args, in/out paths as inputs/outputs."""
    tags = _env_tags(env_tags)
    resources = _resources(env_resources)
    input_paths, output_paths, mount_notes = detect_mounts(config)

    def mount(path: str, ignore: str) -> tuple[str, list[str]]:
        type_tag = _type_tag(path, ignore)
        mount_tags = list(dict.fromkeys([*tags, *([type_tag] if type_tag else [])]))
        return path, mount_tags or [_EXAMPLE_TAG]

    inputs = [mount(p, "in") for p in input_paths]
    outputs = [mount(p, "out") for p in output_paths]
    notes: dict[str, list[str]] = {"inputs": [], "outputs": [], "image": []}
    for note in mount_notes:
        notes["inputs" if note.startswith("input") else "outputs"].append(note)
    if not inputs:
        taken = [p for p, _ in outputs]
        placeholder = next(
            p for p in ("/in", *(f"/in-{n}" for n in range(1, len(taken) + 2)))
            if not any(mount_paths_conflict(p, o) for o in taken)
        )  # fmt: skip
        inputs = [(placeholder, tags or [_EXAMPLE_TAG])]
        notes["inputs"].append(
            "no input was detected in the image (no ENTRYPOINT, CMD or VOLUME path with an 'in' component);"
        )
        notes["inputs"].append(f"{placeholder!r} below is a placeholder: set it to where your program reads input.")
    if config.repository == "IMAGE" or config.tag == "TAG":
        notes["image"].append("the image has no repository:tag; replace IMAGE and/or TAG with the image's name.")
    return _render(
        image=config.image,
        entrypoint=list(config.entrypoint or []),
        args=list(config.cmd or []),
        inputs=inputs,
        outputs=outputs,
        log_tags=list(dict.fromkeys(["type:log", *tags])),
        resources=resources,
        notes=notes,
    )


def template_scratch(*, env_tags: list[str], env_resources: dict[str, str], image: str = "image:version") -> str:
    """The Plan YAML without an image: ``/in`` and ``/out`` tagged with the knitenv tags (or ``example:tag``)."""
    check_image(image, field="image")
    tags = _env_tags(env_tags) or [_EXAMPLE_TAG]
    return _render(
        image=image,
        entrypoint=[],
        args=[],
        inputs=[("/in", tags)],
        outputs=[("/out", tags)],
        log_tags=list(dict.fromkeys(["type:log", *tags])),
        resources=_resources(env_resources),
        notes={},
    )
