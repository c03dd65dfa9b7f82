"""Kubernetes and container syntax: label keys and values, DNS names, quantities, image references, mount paths.

Each ``check_*`` function returns the value (normalised where noted) or raises ``InvalidInput`` naming ``field``
and quoting the offending text.
"""

from __future__ import annotations

import re

from knit_provider.core.errors import InvalidInput, UsageError, shown
from knit_provider.core.tags import control_character

_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN_RE = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_NAME_PART_RE = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_LABEL_VALUE_RE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_QUANTITY_RE = re.compile(r"\+?(?:\d+(?:\.\d*)?|\.\d+)(?:Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?")

# Docker distribution reference grammar (github.com/distribution/reference).
_IMAGE_PATH_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_IMAGE_DOMAIN_RE = re.compile(
    r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?"
)
_IMAGE_TAG_RE = re.compile(r"\w[\w.-]{0,127}", re.ASCII)
_IMAGE_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_IMAGE_NAME_MAX = 255


def check_dns_subdomain(text: object, *, field: str, what: str = "name") -> str:
    """RFC 1123 subdomain: lowercase alphanumerics, '-' and '.', at most 253 characters."""
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"{what} must be a non-empty string, got {shown(text)}", field=field)
    if len(text) > 253 or not _DNS_SUBDOMAIN_RE.fullmatch(text):
        raise InvalidInput(
            f"{what} {shown(text)} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit, at most 253 characters)",
            field=field,
        )
    return text


def check_qualified_name(text: object, *, field: str, what: str = "key") -> str:
    """Kubernetes qualified name: ``[prefix/]name``, prefix a DNS subdomain, name <= 63 chars of [-A-Za-z0-9_.]."""
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"{what} must be a non-empty string, got {shown(text)}", field=field)
    prefix, slash, name = text.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.fullmatch(prefix)):
        raise InvalidInput(
            f"{what} {shown(text)} has an invalid prefix {shown(prefix)} "
            "(must be a DNS-1123 subdomain, e.g. example.com)",
            field=field,
        )
    if not name or len(name) > 63 or not _NAME_PART_RE.fullmatch(name):
        raise InvalidInput(
            f"{what} {shown(text)} is not a valid Kubernetes name: the part after an optional 'prefix/' must be 1-63 "
            "characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
            field=field,
        )
    return text


def check_label_value(text: object, *, field: str) -> str:
    """Kubernetes label value: empty, or <= 63 chars of [-A-Za-z0-9_.] starting and ending alphanumeric."""
    if not isinstance(text, str) or len(text) > 63 or not _LABEL_VALUE_RE.fullmatch(text):
        raise InvalidInput(
            f"label value {shown(text)} is not valid: at most 63 characters of letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit (or empty)",
            field=field,
        )
    return text


def check_quantity(value: object, *, field: str) -> str:
    """A non-negative Kubernetes quantity (``1``, ``0.5``, ``500m``, ``1Gi``, ``2e3``); numbers become strings."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidInput(f"resource quantity must be a string or a number, got {shown(value)}", field=field)
    text = str(value).strip()
    if not _QUANTITY_RE.fullmatch(text):
        raise InvalidInput(
            f"{shown(value)} is not a Kubernetes quantity (examples: 1, 0.5, 500m, 1Gi, 512Mi, 2e3)", field=field
        )
    return text


def check_image(text: object, *, field: str = "image") -> str:
    """``[registry[:port]/]repository:tag[@sha256:<hex>]`` with both repository and tag present."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"image must be a string 'repository:tag', got {shown(text)}", field=field)
    ref = text.strip()
    name_tag, at, digest = ref.partition("@")
    if at and not _IMAGE_DIGEST_RE.fullmatch(digest):
        raise InvalidInput(
            f"image {shown(text)} has an invalid digest {shown(digest)} (expected sha256:<64 hex>)", field=field
        )
    slash = name_tag.rfind("/")
    colon = name_tag.rfind(":")
    if colon <= slash:
        example = shown(name_tag + ":v1.0")
        raise InvalidInput(f"image {shown(text)} needs a tag (write repository:tag, e.g. {example})", field=field)
    name, tag = name_tag[:colon], name_tag[colon + 1 :]
    if not name:
        raise InvalidInput(f"image {shown(text)} needs a repository before {shown(':' + tag)}", field=field)
    if not _IMAGE_TAG_RE.fullmatch(tag):
        raise InvalidInput(
            f"image {shown(text)} has an invalid tag {shown(tag)} (letters, digits, '_', '.', '-'; at most 128; "
            "not starting with '.' or '-')",
            field=field,
        )
    if len(name) > _IMAGE_NAME_MAX:
        raise InvalidInput(
            f"image {shown(text)}: repository name longer than {_IMAGE_NAME_MAX} characters", field=field
        )
    components = name.split("/")
    first = components[0]
    if len(components) > 1 and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        if not _IMAGE_DOMAIN_RE.fullmatch(first):
            raise InvalidInput(f"image {shown(text)} has an invalid registry {shown(first)}", field=field)
        components = components[1:]
    for component in components:
        if not _IMAGE_PATH_COMPONENT_RE.fullmatch(component):
            raise InvalidInput(
                f"image {shown(text)} has an invalid repository component {shown(component)} (lowercase letters and "
                "digits, separated by '.', '_', '__' or '-')",
                field=field,
            )
    return ref


def parse_image_filter(text: str, *, field: str = "image") -> tuple[str, str | None]:
    """``knit plan find --image``: ``repository[:tag]`` -> ``(repository, tag or None)``, as Knitfab splits it
    (the tag follows a ``:`` in the last ``/`` component); no repository is a usage error."""
    if not isinstance(text, str) or control_character(text) is not None:
        raise UsageError(f"not an image name: {shown(text)}", field=field)
    head, slash, last = text.strip().rpartition("/")
    name, _, tag = last.partition(":")
    if not name:
        raise UsageError(f"{shown(text)} names no repository (write repository[:tag], e.g. repo/train:v1)", field=field)
    return head + slash + name, tag or None


#: where a mount would shadow what the container's runtime provides (Knitfab's pods would break there too)
RESERVED_MOUNT_ROOTS = ("/proc", "/sys", "/dev")
#: Linux's PATH_MAX and NAME_MAX, in bytes of UTF-8
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


def normalize_mount_path(value: object, *, field: str = "path") -> str:
    """Absolute, clean path; exactly one trailing ``/`` is trimmed; the root, ``/proc``, ``/sys``, ``/dev`` and
    what lies below them, control characters and over-long paths or names are refused."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"path must be a non-empty string, got {shown(value)}", field=field)
    if not value.startswith("/"):
        raise InvalidInput(f"path {shown(value)} must be absolute (start with '/')", field=field)
    bad = control_character(value)
    if bad is not None:
        raise InvalidInput(f"path {shown(value)} contains the control character {bad}", field=field)
    if len(value.encode("utf-8")) > MAX_PATH_BYTES:
        raise InvalidInput(f"path {shown(value)} is longer than {MAX_PATH_BYTES} bytes", field=field)
    path = value[:-1] if value.endswith("/") else value
    if path in ("", "/"):
        raise InvalidInput(f"path {shown(value)} is the root directory; mount a directory below it", field=field)
    for part in path[1:].split("/"):
        if part == "":
            raise InvalidInput(
                f"path {shown(value)} is not clean: it contains '//' or ends with more than one '/'", field=field
            )
        if part in (".", ".."):
            raise InvalidInput(f"path {shown(value)} is not clean: it contains a {shown(part)} component", field=field)
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise InvalidInput(
                f"path {shown(value)} has a component longer than {MAX_NAME_BYTES} bytes: {shown(part)}", field=field
            )
    for reserved in RESERVED_MOUNT_ROOTS:
        if path == reserved or path.startswith(reserved + "/"):
            raise InvalidInput(
                f"path {shown(value)} is under {reserved}, which the container's runtime provides; mount elsewhere",
                field=field,
            )
    return path


def mount_paths_conflict(a: str, b: str) -> bool:
    """True when one normalised path equals the other or lies below it, component by component."""
    pa, pb = a.strip("/").split("/"), b.strip("/").split("/")
    n = min(len(pa), len(pb))
    return pa[:n] == pb[:n]
