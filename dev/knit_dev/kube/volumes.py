"""What kubelet prepares before a container starts: the pod's volumes, each container's env and mounts.

A volume that cannot be set up is a ``FailedMount`` (retried); a container whose env or mounts cannot be made is
``CreateContainerConfigError`` (:class:`ConfigError`). The stand-in has no ConfigMaps or Secrets: volumes and
env taken from them fail as they would when those objects are missing.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from knit_provider.runners.base import Mount

__all__ = ["ConfigError", "container_env", "container_mounts", "expand", "pod_volumes"]

JSON = dict[str, Any]
_REF_RE = re.compile(r"\$\$|\$\(([^)]*)\)")
_FIELD_RE = re.compile(r"metadata\.(labels|annotations)\['([^']*)'\]")


class ConfigError(Exception):
    """The container cannot be created yet: ``CreateContainerConfigError`` with this message."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: a defined var is replaced, an unknown one kept, ``$$`` is a ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REF_RE.sub(replace, text)


def _field(pod: JSON, path: str) -> str:
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
    if m := _FIELD_RE.fullmatch(path):
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    values = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.hostIPs": status.get("hostIP"),
        "status.podIP": status.get("podIP"),
        "status.podIPs": status.get("podIP"),
    }
    if path not in values:
        raise ConfigError(f"env fieldRef {path!r} is not supported by the kube stand-in")
    return str(values[path] or "")


def container_env(container: JSON, pod: JSON, secrets: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, str]:
    """The container's env in order (later entries may use earlier ones as ``$(NAME)``); ``envFrom`` and
    ``secretKeyRef`` read ``secrets`` (name -> data), the stand-in's only Secrets."""
    env: dict[str, str] = {}
    secrets = secrets or {}
    for source in container.get("envFrom") or []:
        ref = source.get("secretRef")
        if ref and ref.get("name") in secrets:
            env.update({source.get("prefix", "") + k: v for k, v in secrets[ref["name"]].items()})
            continue
        for key, kind in (("configMapRef", "configmap"), ("secretRef", "secret")):
            ref = source.get(key)
            if ref and not ref.get("optional"):
                raise ConfigError(f'{kind} "{ref.get("name")}" not found')
    for item in container.get("env") or []:
        name, source = item["name"], item.get("valueFrom")
        if not source:
            env[name] = expand(str(item.get("value") or ""), env)
        elif "fieldRef" in source:
            env[name] = _field(pod, source["fieldRef"].get("fieldPath", ""))
        elif "secretKeyRef" in source and source["secretKeyRef"].get("key") in secrets.get(
            source["secretKeyRef"].get("name"), {}
        ):
            env[name] = secrets[source["secretKeyRef"]["name"]][source["secretKeyRef"]["key"]]
        elif "secretKeyRef" in source or "configMapKeyRef" in source:
            key = "secretKeyRef" if "secretKeyRef" in source else "configMapKeyRef"
            ref = source[key]
            if not ref.get("optional"):
                kind = "secret" if key == "secretKeyRef" else "configmap"
                raise ConfigError(f'{kind} "{ref.get("name")}" not found')
        else:
            raise ConfigError(f"env {name}: valueFrom {sorted(source)} is not supported by the kube stand-in")
    return env


_ROOT_CA = "kube-root-ca.crt"  # the ConfigMap every namespace has


def _write(directory: Path, relative: str, text: str) -> None:
    path = directory / posixpath.normpath(relative).lstrip("/")
    if not str(path).startswith(str(directory) + "/"):
        raise ConfigError(f"projected path {relative!r} leaves the volume")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _projected(pod: JSON, sources: list[JSON], directory: Path) -> str | None:
    """Write a projected volume's files (token, root CA, namespace); why it cannot be, or None."""
    directory.mkdir(parents=True, exist_ok=True)
    meta, account = pod["metadata"], pod["spec"].get("serviceAccountName", "default")
    try:
        for source in sources:
            if (token := source.get("serviceAccountToken")) is not None:
                _write(directory, token.get("path", "token"), f"knit-standin-token.{meta['namespace']}.{account}")
            elif (config_map := source.get("configMap")) is not None:
                if config_map.get("name") != _ROOT_CA:
                    if config_map.get("optional"):
                        continue
                    return f'configmap "{config_map.get("name")}" not found'
                for item in config_map.get("items") or [{"key": "ca.crt", "path": "ca.crt"}]:
                    _write(directory, item["path"], "# kube stand-in: plain http, no certificate authority\n")
            elif (downward := source.get("downwardAPI")) is not None:
                for item in downward.get("items") or []:
                    _write(directory, item["path"], _field(pod, (item.get("fieldRef") or {}).get("fieldPath", "")))
            elif (secret := source.get("secret")) is not None:
                if not secret.get("optional"):
                    return f'secret "{secret.get("name")}" not found'
            else:
                return f"projected source {sorted(source)} is not supported by the kube stand-in"
    except ConfigError as exc:
        return str(exc)
    return None


def pod_volumes(
    pod: JSON, claims: Mapping[str, Path], scratch: Path
) -> tuple[dict[str, tuple[Path, bool]] | None, str | None]:
    """({volume name: (host directory, read only)}, None), or (None, the ``FailedMount`` message)."""
    found: dict[str, tuple[Path, bool]] = {}
    for volume in pod["spec"].get("volumes") or []:
        name = volume["name"]
        failed = f'MountVolume.SetUp failed for volume "{name}" : '
        if (pvc := volume.get("persistentVolumeClaim")) is not None:
            claim = pvc.get("claimName")
            path = claims.get(claim)
            if path is None or not Path(path).is_dir():
                return None, f'{failed}claim "{claim}": its directory {path} does not exist (kube stand-in)'
            found[name] = (Path(path), bool(pvc.get("readOnly")))
        elif "emptyDir" in volume:
            path = scratch / name
            path.mkdir(parents=True, exist_ok=True)
            found[name] = (path, False)
        elif (host := volume.get("hostPath")) is not None:
            path, kind = Path(host.get("path", "")), host.get("type") or ""
            if kind in ("", "DirectoryOrCreate"):
                path.mkdir(parents=True, exist_ok=True)
            if not path.is_dir():
                return None, f"{failed}hostPath type check failed: {path} is not a directory"
            found[name] = (path, False)
        elif (source := volume.get("projected")) is not None:
            if problem := _projected(pod, source.get("sources") or [], scratch / name):
                return None, failed + problem
            found[name] = (scratch / name, True)
        elif (source := volume.get("configMap")) is not None:
            if source.get("name") != _ROOT_CA:
                return None, f'{failed}configmap "{source.get("name")}" not found'
            if problem := _projected(pod, [{"configMap": source}], scratch / name):
                return None, failed + problem
            found[name] = (scratch / name, True)
        elif (source := volume.get("secret")) is not None:
            return None, f'{failed}secret "{source.get("secretName")}" not found'
        else:
            kinds = sorted(k for k in volume if k != "name")
            return None, f"{failed}volume type {kinds} is not supported by the kube stand-in"
    return found, None


def container_mounts(container: JSON, volumes: Mapping[str, tuple[Path, bool]], env: Mapping[str, str]) -> list[Mount]:
    """Each volumeMount as a bind: ``subPath`` inside the volume (made if missing, as kubelet does), never out."""
    mounts = []
    for mount in container.get("volumeMounts") or []:
        root, read_only = volumes[mount["name"]]
        target = mount.get("mountPath", "")
        if not posixpath.isabs(target):
            raise ConfigError(f'failed to create container: mount destination "{target}" is not an absolute path')
        sub = mount.get("subPath") or expand(mount.get("subPathExpr") or "", env)
        source = root
        if sub:
            source = Path(os.path.realpath(root / sub))
            base = os.path.realpath(root)
            if posixpath.isabs(sub) or not (str(source) == base or str(source).startswith(base.rstrip("/") + "/")):
                raise ConfigError(
                    f'failed to prepare subPath for volumeMount "{mount["name"]}" of container "{container["name"]}"'
                )
            if not source.exists():
                source.mkdir(mode=0o755, parents=True)
            if not source.is_dir():
                raise ConfigError(
                    f'subPath "{sub}" of volumeMount "{mount["name"]}" is a file: '
                    "the kube stand-in mounts directories only"
                )
        mounts.append(Mount(source, target, read_only=bool(mount.get("readOnly")) or read_only))
    return mounts
