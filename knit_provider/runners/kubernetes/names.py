"""Names Kubernetes accepts, made from Knit's: label values and keys, pod names, claim names.

Knit ids are UUIDs today, which are valid as they are; anything else (a longer or odd id) is cut down and given
a short hash of the whole text, so two different ids never share a label value. The label and annotation
keys of a Run's pod live here too: the reconciliation reads them without importing the kubernetes client.
"""

from __future__ import annotations

import hashlib
import re

LABEL_MAX = 63
DNS_LABEL_MAX = 63
POD_BASE_MAX = 54  # KubernetesPodOperator appends "-" + 8 random characters, up to 63 in all

_LABEL_OK = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_DNS_LABEL_OK = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def label_safe(text: str) -> str:
    """``text`` as a label value (or the name part of a label key): unchanged when already valid, else
    cleaned, cut, and suffixed with a hash of the original so it stays unique."""
    if len(text) <= LABEL_MAX and _LABEL_OK.fullmatch(text):
        return text
    cleaned = re.sub(r"[^-A-Za-z0-9_.]+", "-", text)
    cleaned = cleaned[: LABEL_MAX - 9].strip("-_.")
    return f"{cleaned}-{_digest(text)}" if cleaned else _digest(text)


def dns_label(text: str, limit: int = DNS_LABEL_MAX) -> str:
    """``text`` as an RFC 1123 label (lowercase letters, digits, '-'); unchanged when valid, else cleaned and
    suffixed with a hash of the original."""
    if len(text) <= limit and _DNS_LABEL_OK.fullmatch(text):
        return text
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    cleaned = cleaned[: limit - 9].strip("-")
    return f"{cleaned}-{_digest(text)}" if cleaned else _digest(text)


def image_name(image: str) -> str:
    """The last repository component of an image reference: ``reg:5000/team/train:v1`` -> ``train``."""
    repository = image.split("@", 1)[0]
    slash, colon = repository.rfind("/"), repository.rfind(":")
    if colon > slash:
        repository = repository[:colon]
    return repository.rsplit("/", 1)[-1]


def pod_name(image: str, run_id: str) -> str:
    """``knit-<image name>-<run id prefix>``: says what runs and which Run at a glance (``kubectl get pods``);
    the full ids are labels and annotations, and the operator adds a random suffix for each attempt."""
    run_part = re.sub(r"[^a-z0-9]+", "", run_id.lower())[:8] or _digest(run_id)
    room = POD_BASE_MAX - len("knit--") - len(run_part)
    name_part = re.sub(r"[^a-z0-9]+", "-", image_name(image).lower()).strip("-")[:room].strip("-")
    return f"knit-{name_part}-{run_part}" if name_part else f"knit-{run_part}"


def claim_name(prefix: str, knit_id: str) -> str:
    """The PersistentVolumeClaim holding one Data (per-data volume mode): ``<prefix><knit id>``, a DNS label."""
    return dns_label(f"{prefix}{knit_id}")


class LABEL:
    """Label keys on every Run's pod; ``DATA + <knit id>`` has the value ``in``, ``out`` or ``log``."""

    MANAGED_BY = "app.kubernetes.io/managed-by"
    COMPONENT = "app.kubernetes.io/component"
    PLAN = "knit/plan-id"
    RUN = "knit/run-id"
    DATA = "knit.data/"


class ANNOTATION:
    PLAN = "knit/plan-id"
    RUN = "knit/run-id"
    IMAGE = "knit/image"
    INPUTS = "knit/inputs"  # JSON [{"path", "knitId"}], in input order
    OUTPUTS = "knit/outputs"
    LOG = "knit/log"  # the log Data's knit id
