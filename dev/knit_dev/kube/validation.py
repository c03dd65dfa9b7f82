"""What the API server checks and fills in when a pod is created (validation, defaulting, admission).

Written from Kubernetes' own rules, not from ``knit_provider.core``: a pod the knit code builds wrong must be
refused here as a cluster would refuse it, not pass because both share a mistake.
"""

from __future__ import annotations

import copy
import posixpath
import re
import secrets
import uuid
from collections.abc import Collection
from typing import Any

from knit_dev.kube.objects import ApiError, rfc3339

__all__ = ["SERVICE_ACCOUNT_DIR", "admit_pod", "check_metadata_update", "qos_class"]

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL_RE = re.compile(_DNS_LABEL)
_SUBDOMAIN_RE = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_ENV_RE = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_RESTART = ("Always", "OnFailure", "Never")
_PULL = ("Always", "IfNotPresent", "Never")
_DEFAULT_TOLERATIONS = [
    {"key": f"node.kubernetes.io/{what}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    for what in ("not-ready", "unreachable")
]


def _qualified(key: str) -> str | None:
    """Why ``key`` is not a qualified name (label / annotation key), or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in prefix or (key.count("/") and (not prefix or len(prefix) > 253 or not _SUBDOMAIN_RE.fullmatch(prefix))):
        return "a qualified name's prefix must be a DNS-1123 subdomain"
    if not name or len(name) > 63 or not _NAME_RE.fullmatch(name):
        return "name part must consist of alphanumerics, '-', '_' or '.', start and end alphanumeric, <= 63"
    return None


def _metadata_causes(meta: dict[str, Any]) -> list[str]:
    causes = []
    for key, value in (meta.get("labels") or {}).items():
        if why := _qualified(str(key)):
            causes.append(f'metadata.labels: Invalid value: "{key}": {why}')
        if not isinstance(value, str) or len(value) > 63 or (value and not _NAME_RE.fullmatch(value)):
            causes.append(
                f'metadata.labels: Invalid value: "{value}": a valid label must be an empty string or consist of '
                "alphanumerics, '-', '_' or '.', start and end alphanumeric, at most 63 characters"
            )
    annotations = meta.get("annotations") or {}
    for key, value in annotations.items():
        if why := _qualified(str(key)):
            causes.append(f'metadata.annotations: Invalid value: "{key}": {why}')
        if not isinstance(value, str):
            causes.append(f"metadata.annotations: Invalid value: {key}: values must be strings")
    if sum(len(str(k)) + len(str(v)) for k, v in annotations.items()) > 256 * 1024:
        causes.append("metadata.annotations: Too long: must have at most 262144 bytes")
    return causes


def _container_causes(where: str, container: dict[str, Any], volumes: set[str]) -> list[str]:
    causes = []
    name = container.get("name")
    if not isinstance(name, str) or len(name) > 63 or not _DNS_LABEL_RE.fullmatch(name):
        causes.append(f'{where}.name: Invalid value: "{name}": must be a DNS-1123 label')
    if not container.get("image"):
        causes.append(f"{where}.image: Required value")
    if container.get("imagePullPolicy") not in (None, *_PULL):
        causes.append(f'{where}.imagePullPolicy: Unsupported value: "{container["imagePullPolicy"]}"')
    for i, env in enumerate(container.get("env") or []):
        if not _ENV_RE.fullmatch(str(env.get("name", ""))):
            causes.append(
                f'{where}.env[{i}].name: Invalid value: "{env.get("name")}": a valid environment variable name'
            )
    seen: set[str] = set()
    for i, mount in enumerate(container.get("volumeMounts") or []):
        at = f"{where}.volumeMounts[{i}]"
        if mount.get("name") not in volumes:
            causes.append(f'{at}.name: Not found: "{mount.get("name")}"')
        path = mount.get("mountPath") or ""
        if not path:
            causes.append(f"{at}.mountPath: Required value")
        elif path in seen:
            causes.append(f'{at}.mountPath: Invalid value: "{path}": must be unique')
        seen.add(path)
        sub = mount.get("subPath") or ""
        if sub and posixpath.isabs(sub):
            causes.append(f'{at}.subPath: Invalid value: "{sub}": must be a relative path')
        if ".." in sub.split("/"):
            causes.append(f"{at}.subPath: Invalid value: \"{sub}\": must not contain '..'")
    return causes


def _spec_causes(spec: dict[str, Any]) -> list[str]:
    causes = []
    volumes: set[str] = set()
    for i, volume in enumerate(spec.get("volumes") or []):
        name = volume.get("name")
        if not isinstance(name, str) or not _DNS_LABEL_RE.fullmatch(name) or len(name) > 63:
            causes.append(f'spec.volumes[{i}].name: Invalid value: "{name}": must be a DNS-1123 label')
        elif name in volumes:
            causes.append(f'spec.volumes[{i}].name: Duplicate value: "{name}"')
        volumes.add(str(name))
    containers = spec.get("containers") or []
    if not containers:
        causes.append("spec.containers: Required value")
    names: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(group) or []):
            causes += _container_causes(f"spec.{group}[{i}]", container, volumes)
            if container.get("name") in names:
                causes.append(f'spec.{group}[{i}].name: Duplicate value: "{container.get("name")}"')
            names.add(container.get("name"))
    if spec.get("restartPolicy") not in (None, *_RESTART):
        causes.append(f'spec.restartPolicy: Unsupported value: "{spec["restartPolicy"]}"')
    return causes


def _default_container(container: dict[str, Any]) -> None:
    image = str(container.get("image", ""))
    tagged = image.rfind(":") > image.rfind("/") or "@" in image
    latest = not tagged or image.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})


def qos_class(spec: dict[str, Any]) -> str:
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, {**(r.get("limits") or {}), **(r.get("requests") or {})}
        if any(limits.get(k) is None or limits[k] != requests.get(k) for k in ("cpu", "memory")):
            return "Burstable"
    return "Guaranteed"


def _service_account(pod: dict[str, Any], service_accounts: Collection[str]) -> None:
    """The ServiceAccount admission: the account must exist; its token is mounted unless automount is off."""
    spec, name = pod["spec"], pod["metadata"]["name"]
    account = spec["serviceAccountName"]
    if account not in service_accounts:
        message = (
            f'pods "{name}" is forbidden: error looking up service account {pod["metadata"]["namespace"]}/{account}: '
            f'serviceaccount "{account}" not found'
        )
        raise ApiError(403, "Forbidden", message, name=name)
    if spec.get("automountServiceAccountToken") is False:
        return
    volume = "kube-api-access-" + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
    namespace_item = {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}
    sources = [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [namespace_item]}},
    ]
    spec.setdefault("volumes", []).append({"name": volume, "projected": {"defaultMode": 420, "sources": sources}})
    mount = {"name": volume, "readOnly": True, "mountPath": SERVICE_ACCOUNT_DIR}
    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("mountPath") == SERVICE_ACCOUNT_DIR for m in mounts):
            mounts.append(dict(mount))


def admit_pod(
    body: Any, namespace: str, resource_version: str, service_accounts: Collection[str] = ("default",)
) -> dict[str, Any]:
    """The stored pod for a create request, or ``ApiError`` (400 / 403 / 422) as the API server answers."""
    if not isinstance(body, dict):
        raise ApiError.bad_request("the request body must be a Pod object")
    if body.get("kind", "Pod") != "Pod" or body.get("apiVersion", "v1") != "v1":
        raise ApiError.bad_request(f"expected kind Pod, apiVersion v1; got {body.get('kind')}/{body.get('apiVersion')}")
    pod = copy.deepcopy(body)
    meta = pod.setdefault("metadata", {})
    if meta.get("namespace") not in (None, "", namespace):
        raise ApiError.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
    name = meta.get("name") or ""
    causes = [] if name else ["metadata.name: Required value: name or generateName is required"]
    if name and (len(name) > 253 or not _SUBDOMAIN_RE.fullmatch(name)):
        causes.append(f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain')
    spec = pod.setdefault("spec", {})
    causes += _metadata_causes(meta) + _spec_causes(spec)
    if causes:
        raise ApiError.invalid("pods", name, causes)
    meta.update(namespace=namespace, uid=str(uuid.uuid4()), resourceVersion=resource_version)
    meta["creationTimestamp"] = rfc3339()
    meta.setdefault("labels", {})
    for key, value in (
        ("restartPolicy", "Always"),
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
        ("serviceAccountName", "default"),
        ("terminationGracePeriodSeconds", 30),
        ("securityContext", {}),
        ("enableServiceLinks", True),
        ("priority", 0),
        ("preemptionPolicy", "PreemptLowerPriority"),
    ):
        if spec.get(key) is None:
            spec[key] = value
    spec["serviceAccount"] = spec["serviceAccountName"]
    known = {(t.get("key"), t.get("effect")) for t in spec.get("tolerations") or []}
    spec["tolerations"] = [
        *(spec.get("tolerations") or []),
        *(t for t in _DEFAULT_TOLERATIONS if (t["key"], t["effect"]) not in known),
    ]
    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
        _default_container(container)
    pod["apiVersion"], pod["kind"] = "v1", "Pod"
    _service_account(pod, service_accounts)
    pod["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
    return pod


def check_metadata_update(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A patch may change labels, annotations and a few more metadata fields; the spec of a pod is fixed."""
    name = old["metadata"]["name"]
    if new.get("spec") != old.get("spec"):
        raise ApiError.invalid(
            "pods",
            name,
            [
                "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`, ... "
                "(the stand-in allows metadata changes only)"
            ],
        )
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        if new["metadata"].get(key) != old["metadata"].get(key):
            raise ApiError.invalid("pods", name, [f"metadata.{key}: Invalid value: field is immutable"])
    if causes := _metadata_causes(new["metadata"]):
        raise ApiError.invalid("pods", name, causes)
