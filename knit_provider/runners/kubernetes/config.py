"""``PodSettings``: the deployment's side of a Run's pod (namespace, where Data live, pull secrets, labels).

Parsed from the ``[knit] kubernetes_*`` option texts by :meth:`PodSettings.parse`, which checks every value with
Kubernetes' own syntax rules so a typo is reported at startup, naming the option, not by the API server later.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from knit_provider.core.errors import InvalidInput
from knit_provider.core.k8s_names import check_dns_subdomain, check_label_value, check_qualified_name
from knit_provider.core.store_urls import describe, is_local

SHARED = "shared"
PER_DATA = "per-data"
VOLUME_MODES = (SHARED, PER_DATA)
_PREFIX_OK = re.compile(r"(?:[a-z0-9][-a-z0-9]{0,39})?")


@dataclass(frozen=True)
class PodSettings:
    """How Runs become pods in this deployment (the Plan says what runs; this says where and how)."""

    namespace: str = "default"
    #: ``shared``: one ReadWriteMany claim holding the Data store, one sub-directory (subPath) per Data;
    #: ``per-data``: one claim per Data, named ``claim_prefix + knit id``.
    volume_mode: str = SHARED
    data_claim: str = "knit-data"
    claim_prefix: str = "knit-data-"
    image_pull_secrets: tuple[str, ...] = ()
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    container_name: str = "base"  # KubernetesPodOperator's base container: its logs are the task's
    #: An object store (``[knit] data_store``): the pod fetches its inputs and uploads its outputs itself, with the
    #: stager image (``kubernetes_stager_image``), credentials from ``store_secret`` or its service account.
    data_store: str = ""
    store_options: str = ""  # JSON fsspec options, as KNIT_DATA_STORE_OPTIONS
    stager_image: str = ""
    store_secret: str = ""
    upload_timeout_s: int = 600

    @property
    def object_store(self) -> bool:
        """Data on an object store: no volume holds them, the pod stages them in and out."""
        return not is_local(self.data_store)

    def check_staging(self) -> None:
        """With Data on an object store, pods need the stager image: refused at start-up, naming the option."""
        if self.object_store and not self.stager_image:
            raise InvalidInput(
                f"Data live on an object store ({describe(self.data_store)}): Runs' pods need the stager image, an "
                "image with this package and its object-store extra (for example Airflow's own)",
                field=_field("stager_image"),
            )

    @classmethod
    def parse(
        cls,
        *,
        namespace: str = "default",
        volume_mode: str = SHARED,
        data_claim: str = "knit-data",
        claim_prefix: str = "knit-data-",
        image_pull_secrets: str = "",
        extra_labels: str = "",
        data_store: str = "",
        store_options: str = "",
        stager_image: str = "",
        store_secret: str = "",
        upload_timeout: str = "600",
    ) -> PodSettings:
        """From option texts: ``image_pull_secrets`` comma-separated names, ``extra_labels`` ``k=v,k=v``."""
        check_dns_subdomain(namespace, field=_field("namespace"), what="namespace")
        if len(namespace) > 63 or "." in namespace:
            raise InvalidInput(
                f"namespace {namespace!r} is not a DNS label (lowercase letters, digits and '-', at most 63)",
                field=_field("namespace"),
            )
        mode = volume_mode.strip().lower()
        if mode not in VOLUME_MODES:
            raise InvalidInput(
                f"unknown volume mode {volume_mode!r} (one of {', '.join(VOLUME_MODES)})", field=_field("volume_mode")
            )
        check_dns_subdomain(data_claim, field=_field("data_claim"), what="claim name")
        if not _PREFIX_OK.fullmatch(claim_prefix):
            raise InvalidInput(
                f"claim prefix {claim_prefix!r} must start with a lowercase letter or digit and hold only "
                "lowercase letters, digits and '-' (at most 40 characters)",
                field=_field("claim_prefix"),
            )
        secrets = tuple(s.strip() for s in image_pull_secrets.split(",") if s.strip())
        for secret in secrets:
            check_dns_subdomain(secret, field=_field("image_pull_secrets"), what="secret name")
        if store_secret:
            check_dns_subdomain(store_secret, field=_field("store_secret"), what="secret name")
        return cls(
            namespace=namespace,
            volume_mode=mode,
            data_claim=data_claim,
            claim_prefix=claim_prefix,
            image_pull_secrets=secrets,
            extra_labels=parse_labels(extra_labels, field=_field("labels")),
            data_store=data_store,
            store_options=store_options,
            stager_image=stager_image.strip(),
            store_secret=store_secret,
            upload_timeout_s=_timeout(upload_timeout, "upload_timeout"),
        )


def _field(name: str) -> str:
    return f"[knit] kubernetes_{name}"


def parse_labels(text: str, *, field: str) -> dict[str, str]:
    """``k=v,k2=v2`` -> a dict, every key and value checked as a Kubernetes label."""
    labels: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"label {item!r} has no '=' (write key=value,key=value)", field=field)
        key, value = key.strip(), value.strip()
        check_qualified_name(key, field=field, what="label key")
        check_label_value(value, field=field)
        labels[key] = value
    return labels


@dataclass(frozen=True)
class KubernetesSettings:
    """The kubernetes runner's options: the pod settings, the launch timeouts, how to reach the cluster."""

    pod: PodSettings = field(default_factory=PodSettings)
    startup_timeout_s: int = 120
    schedule_timeout_s: int = 120
    conn_id: str = "kubernetes_default"
    in_cluster: bool | None = None  # None: as the connection says
    config_file: str | None = None  # None: as the connection says, else KUBECONFIG

    @classmethod
    def parse(cls, get: Callable[[str], str], *, data_store: str = "", store_options: str = "") -> KubernetesSettings:
        """From ``get(option name)`` returning the option text (default applied), e.g. ``kubernetes_namespace``;
        ``data_store`` the Data store's URL as resolved (``[knit] data_store``, else ``KNIT_DATA_STORE``)."""
        startup = _timeout(get("kubernetes_startup_timeout"), "startup_timeout")
        schedule_text = get("kubernetes_schedule_timeout")
        in_cluster = _boolean(get("kubernetes_in_cluster"), "in_cluster")
        config_file = get("kubernetes_config_file") or None
        if in_cluster and config_file:
            raise InvalidInput(
                "in_cluster and config_file exclude each other (the cluster is reached one way)",
                field=_field("in_cluster"),
            )
        return cls(
            pod=PodSettings.parse(
                namespace=get("kubernetes_namespace"),
                volume_mode=get("kubernetes_volume_mode"),
                data_claim=get("kubernetes_data_claim"),
                claim_prefix=get("kubernetes_claim_prefix"),
                image_pull_secrets=get("kubernetes_image_pull_secrets"),
                extra_labels=get("kubernetes_labels"),
                data_store=data_store,
                store_options=store_options,
                stager_image=get("kubernetes_stager_image"),
                store_secret=get("kubernetes_store_secret"),
                upload_timeout=get("kubernetes_upload_timeout"),
            ),
            startup_timeout_s=startup,
            schedule_timeout_s=_timeout(schedule_text, "schedule_timeout") if schedule_text else startup,
            conn_id=get("kubernetes_conn_id") or "kubernetes_default",
            in_cluster=in_cluster,
            config_file=config_file,
        )


def _timeout(text: str, name: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"not a number of seconds: {text!r}", field=_field(name)) from None
    if not value > 0:
        raise InvalidInput(f"must be positive, got {text!r}", field=_field(name))
    return max(1, math.ceil(value))


def _boolean(text: str, name: str) -> bool | None:
    lowered = text.strip().lower()
    if not lowered:
        return None
    if lowered in ("true", "yes", "1", "on"):
        return True
    if lowered in ("false", "no", "0", "off"):
        return False
    raise InvalidInput(f"not a boolean: {text!r} (true or false, or empty)", field=_field(name))
