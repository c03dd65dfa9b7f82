"""Plan definitions: the YAML a user applies, validated into immutable values, and a plan's identity.

Pure: no catalog, no Airflow. Every refusal is an ``InvalidInput`` whose ``field`` is the path of the offending
field (``inputs[1].tags[0]``, ``resources.memory``) and whose message quotes the offending value.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from knit_provider.core.documents import load_yaml
from knit_provider.core.errors import InvalidInput, shown
from knit_provider.core.k8s_names import (
    check_dns_subdomain,
    check_image,
    check_label_value,
    check_qualified_name,
    check_quantity,
    mount_paths_conflict,
    normalize_mount_path,
)
from knit_provider.core.run_control import RunControl
from knit_provider.core.tags import KEY_ID, KEY_TIMESTAMP, Tag, control_character, parse_tag
from knit_provider.core.timefmt import format_ms, parse_rfc3339

TOP_KEYS = (
    "image", "entrypoint", "args", "inputs", "outputs", "log", "active",
    "resources", "on_node", "service_account", "annotations", "timeout", "retries",
)  # fmt: skip
MOUNT_KEYS = ("path", "tags")
LOG_KEYS = ("tags",)
ON_NODE_KEYS = ("may", "prefer", "must")
__all__ = [
    "DEFAULT_RESOURCES", "Annotation", "InputSpec", "LogSpec", "NodeLabel", "OnNode", "OutputSpec", "PlanSpec",
    "mount_paths_conflict", "normalize_mount_path", "parse_annotation", "parse_node_label", "parse_plan_dict",
    "parse_plan_yaml", "parse_resource", "validate_service_account",
]  # fmt: skip
DEFAULT_RESOURCES: Mapping[str, str] = {"cpu": "1", "memory": "1Gi"}


def _user_tags(tags: Iterable[Tag]) -> tuple[Tag, ...]:
    return tuple(sorted(set(tags)))


@dataclass(frozen=True)
class InputSpec:
    path: str
    tags: tuple[Tag, ...]  # user tags only, sorted, deduplicated
    pin_knit_id: str | None = None
    pin_timestamp_ms: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", _user_tags(self.tags))

    def pin_tags(self) -> list[Tag]:
        pins = [Tag(KEY_ID, self.pin_knit_id)] if self.pin_knit_id is not None else []
        if self.pin_timestamp_ms is not None:
            pins.append(Tag(KEY_TIMESTAMP, format_ms(self.pin_timestamp_ms)))
        return pins

    def all_tags(self) -> list[Tag]:
        """User tags, then the ``knit#id`` / ``knit#timestamp`` pins."""
        return [*self.tags, *self.pin_tags()]


@dataclass(frozen=True)
class OutputSpec:
    path: str
    tags: tuple[Tag, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", _user_tags(self.tags))


@dataclass(frozen=True)
class LogSpec:
    tags: tuple[Tag, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", _user_tags(self.tags))


@dataclass(frozen=True, order=True)
class NodeLabel:
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class OnNode:
    may: tuple[NodeLabel, ...] = ()
    prefer: tuple[NodeLabel, ...] = ()
    must: tuple[NodeLabel, ...] = ()

    def __post_init__(self) -> None:
        for name in ON_NODE_KEYS:
            object.__setattr__(self, name, tuple(sorted(set(getattr(self, name)))))

    def is_empty(self) -> bool:
        return not (self.may or self.prefer or self.must)

    def to_dict(self) -> dict[str, list[str]]:
        """Only the non-empty lists, entries as ``key=value``."""
        return {name: [str(label) for label in getattr(self, name)] for name in ON_NODE_KEYS if getattr(self, name)}


@dataclass(frozen=True, order=True)
class Annotation:
    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True, kw_only=True)
class PlanSpec:
    image: str
    entrypoint: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...] = ()
    log: LogSpec | None = None
    active: bool = True
    resources: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_RESOURCES), hash=False)
    on_node: OnNode = field(default_factory=OnNode)
    service_account: str | None = None
    annotations: tuple[Annotation, ...] = ()
    control: RunControl = field(default_factory=RunControl)  # beyond Knitfab: timeout, retries (mutable)

    def __post_init__(self) -> None:
        # An empty entrypoint/args means "use the image's", exactly as absent does (Kubernetes semantics).
        object.__setattr__(self, "entrypoint", tuple(self.entrypoint or ()) or None)
        object.__setattr__(self, "args", tuple(self.args or ()) or None)
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "resources", {**DEFAULT_RESOURCES, **self.resources})
        object.__setattr__(self, "annotations", tuple(sorted(set(self.annotations))))

    def identity_key(self) -> str:
        """sha256 of the fields that make a plan what it is; mutable fields and ordering do not count."""

        def mount(path: str, tags: Iterable[Tag]) -> dict[str, Any]:
            return {"path": path, "tags": sorted(str(tag) for tag in tags)}

        canonical = {
            "image": self.image,
            "entrypoint": list(self.entrypoint) if self.entrypoint is not None else None,
            "args": list(self.args) if self.args is not None else None,
            "inputs": sorted((mount(i.path, i.all_tags()) for i in self.inputs), key=lambda m: m["path"]),
            "outputs": sorted((mount(o.path, o.tags) for o in self.outputs), key=lambda m: m["path"]),
            "log": sorted(str(tag) for tag in self.log.tags) if self.log is not None else None,
            "on_node": {name: sorted(str(label) for label in getattr(self.on_node, name)) for name in ON_NODE_KEYS},
        }
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The plan as YAML would write it (same key order); ``parse_plan_dict(spec.to_dict()) == spec``."""
        out: dict[str, Any] = {"image": self.image}
        if self.entrypoint:
            out["entrypoint"] = list(self.entrypoint)
        if self.args:
            out["args"] = list(self.args)
        out["inputs"] = [{"path": i.path, "tags": [str(t) for t in i.all_tags()]} for i in self.inputs]
        out["outputs"] = [{"path": o.path, "tags": [str(t) for t in o.tags]} for o in self.outputs]
        if self.log is not None:
            out["log"] = {"tags": [str(t) for t in self.log.tags]}
        out["active"] = self.active
        out["resources"] = dict(self.resources)
        if not self.on_node.is_empty():
            out["on_node"] = self.on_node.to_dict()
        if self.service_account:
            out["service_account"] = self.service_account
        if self.annotations:
            out["annotations"] = [str(a) for a in self.annotations]
        out.update(self.control.to_dict())
        return out


# ---------------------------------------------------------------------------------------------------------------
# Helpers for single fields (the service layer uses these for the mutable fields).


def parse_annotation(text: object, *, field: str = "annotations") -> Annotation:
    """``"key=value"``: key a Kubernetes annotation key, value any one-line string; both sides trimmed (as Knitfab)."""
    if not isinstance(text, str):
        raise InvalidInput(f"an annotation must be a string 'key=value', got {shown(text)}", field=field)
    key, sep, value = text.partition("=")
    if not sep:
        raise InvalidInput(f"annotation {shown(text)} has no '=' (write key=value)", field=field)
    check_qualified_name(key.strip(), field=field, what=f"annotation {shown(text)}: key")
    bad = control_character(value)
    if bad is not None:
        raise InvalidInput(f"annotation {shown(text)}: its value contains the control character {bad}", field=field)
    return Annotation(key.strip(), value.strip())


def parse_resource(name: object, quantity: object, *, field: str | None = None) -> tuple[str, str]:
    """A Kubernetes resource name (``cpu``, ``nvidia.com/gpu``) and quantity (``500m``, ``1Gi``; numbers too)."""
    where = field or f"resources.{str(name)[:64]}"
    if not isinstance(name, str):
        raise InvalidInput(f"resource name must be a string, got {shown(name)}", field=where)
    check_qualified_name(name, field=where, what="resource name")
    return name, check_quantity(quantity, field=where)


def validate_service_account(name: object, *, field: str = "service_account") -> str:
    """A Kubernetes ServiceAccount name (DNS-1123 subdomain)."""
    return check_dns_subdomain(name, field=field, what="service account")


def parse_node_label(text: object, *, field: str = "on_node") -> NodeLabel:
    """``"key=value"`` following Kubernetes label syntax; the value may not be empty (as Knitfab)."""
    if not isinstance(text, str):
        raise InvalidInput(f"a node label must be a string 'key=value', got {shown(text)}", field=field)
    key, sep, value = text.partition("=")
    if not sep:
        raise InvalidInput(f"node label {shown(text)} has no '=' (write key=value)", field=field)
    check_qualified_name(key.strip(), field=field, what=f"node label {shown(text)}: key")
    if not value.strip():
        raise InvalidInput(f"node label {shown(text)} has an empty value (write key=value)", field=field)
    check_label_value(value.strip(), field=field)
    return NodeLabel(key.strip(), value.strip())


# ---------------------------------------------------------------------------------------------------------------
# The whole plan.


def _mapping(value: object, known: tuple[str, ...], *, field: str | None) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"must be a mapping, got {shown(value)}", field=field)
    for key in value:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
            raise InvalidInput(f"unknown key {shown(key)}{hint}", field=field)
    return value


def _list(value: object, *, field: str, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"must be a list of {what}, got {shown(value)}", field=field)
    return value


def _str_list(value: object, *, field: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = _list(value, field=field, what="strings")
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise InvalidInput(f"must be a string, got {shown(item)}", field=f"{field}[{index}]")
    return tuple(str(item) for item in items) or None


def _tags(value: object, *, field: str, required: bool) -> list[tuple[str, Tag]]:
    """Parse a tag list into ``(field of the tag, Tag)`` pairs; an input's list (``required``) needs one tag."""
    if value is None and not required:
        return []
    if value is None:
        raise InvalidInput("'tags' is required: a list of at least one 'key:value' tag", field=field)
    items = _list(value, field=field, what="'key:value' tags")
    if not items and required:
        raise InvalidInput(f"needs at least one tag, got {shown(items)}", field=field)
    tags = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if isinstance(item, dict) and len(item) == 1:
            ((k, v),) = item.items()
            written = shown(f"{k}:{'' if v is None else v}")
            raise InvalidInput(
                f"tag {shown(item)} was read as a mapping: write {written} without a space after ':', or quote it",
                field=where,
            )
        tags.append((where, parse_tag(item, field=where)))
    return tags


def _no_system_tags(tags: list[tuple[str, Tag]]) -> list[Tag]:
    for where, tag in tags:
        if tag.is_system:
            raise InvalidInput(
                f"system tag {shown(str(tag))} is not allowed here (only on inputs, as a pin)", field=where
            )
    return [tag for _, tag in tags]


def _pin_timestamp(tag: Tag, *, field: str) -> int:
    try:
        return parse_rfc3339(tag.value, field=field)
    except InvalidInput:
        raise InvalidInput(
            f"pin {shown(str(tag))}: {shown(tag.value)} is not an RFC3339 time with a zone (e.g. 2024-01-02T03:04:05Z)",
            field=field,
        ) from None


def _input(value: object, *, field: str) -> InputSpec:
    """An input; as Knitfab, a pin written twice alike (the same id, the same instant in any zone) is one pin."""
    item = _mapping(value, MOUNT_KEYS, field=field)
    path = normalize_mount_path(item.get("path"), field=f"{field}.path")
    user: list[Tag] = []
    pin_id: str | None = None
    pin_ts: int | None = None
    for where, tag in _tags(item.get("tags"), field=f"{field}.tags", required=True):
        if tag.key == KEY_ID:
            if pin_id is not None and pin_id != tag.value:
                raise InvalidInput(
                    f"{shown(str(tag))}: the input is already pinned to knit#id {shown(pin_id)}; "
                    "an input may be pinned to one Data only",
                    field=where,
                )
            pin_id = tag.value
        elif tag.key == KEY_TIMESTAMP:
            instant = _pin_timestamp(tag, field=where)
            if pin_ts is not None and pin_ts != instant:
                raise InvalidInput(
                    f"{shown(str(tag))}: the input is already pinned to knit#timestamp {format_ms(pin_ts)}; "
                    "an input may be pinned to one instant only",
                    field=where,
                )
            pin_ts = instant
        elif tag.is_system:
            raise InvalidInput(
                f"system tag {shown(str(tag))} is not allowed on an input (only {KEY_ID} and {KEY_TIMESTAMP} pins)",
                field=where,
            )
        else:
            user.append(tag)
    return InputSpec(path, tuple(user), pin_id, pin_ts)


def _output(value: object, *, field: str) -> OutputSpec:
    """An output; its tags may be empty (as Knitfab): its Data then feed no Plan, every input needing a tag."""
    item = _mapping(value, MOUNT_KEYS, field=field)
    path = normalize_mount_path(item.get("path"), field=f"{field}.path")
    return OutputSpec(path, tuple(_no_system_tags(_tags(item.get("tags"), field=f"{field}.tags", required=False))))


def _check_mounts(mounts: list[tuple[str, str]]) -> None:
    for i, (field_b, path_b) in enumerate(mounts):
        for field_a, path_a in mounts[:i]:
            if mount_paths_conflict(path_a, path_b):
                if path_a == path_b:
                    relation = "is the same as"
                elif len(path_a) < len(path_b):
                    relation = "is nested inside"
                else:
                    relation = "contains"
                raise InvalidInput(
                    f"mount path {shown(path_b)} {relation} {field_a} {shown(path_a)}; mount paths may not overlap",
                    field=field_b,
                )


def _on_node(value: object) -> OnNode:
    if value is None:
        return OnNode()
    data = _mapping(value, ON_NODE_KEYS, field="on_node")
    lists: dict[str, tuple[NodeLabel, ...]] = {}
    for name in ON_NODE_KEYS:
        where = f"on_node.{name}"
        items = [] if data.get(name) is None else _list(data[name], field=where, what="'key=value' labels")
        lists[name] = tuple(parse_node_label(text, field=f"{where}[{i}]") for i, text in enumerate(items))
    return OnNode(**lists)


def parse_plan_dict(data: object) -> PlanSpec:
    """Validate a plan given as parsed YAML/JSON (every rule of DESIGN.md section 2)."""
    if not isinstance(data, dict):
        raise InvalidInput(f"a plan must be a mapping with at least 'image' and 'inputs', got {shown(data)}")
    _mapping(data, TOP_KEYS, field=None)
    image = check_image(data.get("image"), field="image")
    entrypoint = _str_list(data.get("entrypoint"), field="entrypoint")
    args = _str_list(data.get("args"), field="args")

    raw_inputs = data.get("inputs")
    if not raw_inputs:
        raise InvalidInput(f"at least one input is required, got {shown(raw_inputs)}", field="inputs")
    inputs = [_input(v, field=f"inputs[{i}]") for i, v in enumerate(_list(raw_inputs, field="inputs", what="inputs"))]
    raw_outputs = data.get("outputs")
    raw_outputs = [] if raw_outputs is None else _list(raw_outputs, field="outputs", what="outputs")
    outputs = [_output(v, field=f"outputs[{i}]") for i, v in enumerate(raw_outputs)]
    _check_mounts(
        [(f"inputs[{i}].path", s.path) for i, s in enumerate(inputs)]
        + [(f"outputs[{i}].path", s.path) for i, s in enumerate(outputs)]
    )

    log = None
    if data.get("log") is not None:
        log_data = _mapping(data["log"], LOG_KEYS, field="log")
        log = LogSpec(tuple(_no_system_tags(_tags(log_data.get("tags"), field="log.tags", required=False))))

    active = data.get("active", True)
    if active is None:
        active = True
    if not isinstance(active, bool):
        raise InvalidInput(f"must be true or false, got {shown(active)}", field="active")

    resources: dict[str, str] = {}
    if data.get("resources") is not None:
        raw = data["resources"]
        if not isinstance(raw, dict):
            raise InvalidInput(f"must be a mapping of resource name to quantity, got {shown(raw)}", field="resources")
        resources = dict(parse_resource(name, quantity) for name, quantity in raw.items())

    service_account = data.get("service_account")
    if service_account is not None:
        service_account = validate_service_account(service_account)

    # as Knitfab: a key may have several values (key=a, key=b); only exact duplicates merge (PlanSpec sorts them)
    raw_annotations = data.get("annotations")
    raw_annotations = [] if raw_annotations is None else _list(raw_annotations, field="annotations", what="'key=value'")
    annotations = [parse_annotation(text, field=f"annotations[{index}]") for index, text in enumerate(raw_annotations)]

    return PlanSpec(
        image=image,
        entrypoint=entrypoint,
        args=args,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        log=log,
        active=active,
        resources=resources,
        on_node=_on_node(data.get("on_node")),
        service_account=service_account,
        annotations=tuple(annotations),
        control=RunControl.parse(data.get("timeout"), data.get("retries")),
    )


def parse_plan_yaml(text: str, *, source: str = "plan") -> PlanSpec:
    """Parse and validate a plan YAML document; ``source`` (the file name) starts a syntax error's message."""
    return parse_plan_dict(load_yaml(text, source=source))
