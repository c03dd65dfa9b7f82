"""The pod a Run becomes: ``build_pod(assignment, plan, settings)`` -> a ``kubernetes.client`` ``V1Pod``.

Pure (no API calls, no Airflow), so every field is tested offline. The rules, after Knitfab's worker:

- the container runs the Plan's image with its entrypoint as ``command`` and its args as ``args`` (either absent:
  the image's own), the Run's environment, and ``resources`` as both requests and limits;
- inputs are mounted read-only and outputs writable at their declared paths, from one shared claim with
  ``subPath`` = the Data's directory in the Data store (its knit id), or from one claim per Data; with Data on an
  object store, from two ``emptyDir`` volumes that the pod fills and empties itself (``runners.kubernetes.staging``);
- ``on_node``: ``may`` tolerates the label's NoSchedule taint; ``prefer`` also tolerates PreferNoSchedule and
  prefers such nodes; ``must`` tolerates both and requires such nodes (values of one key OR'ed, keys AND'ed);
- plan id, run id and knit ids are labels (made label-safe) and annotations (exact, with mount paths).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kubernetes.client import models as k8s

from knit_provider.core.plan_spec import Annotation, NodeLabel, OnNode, parse_annotation, parse_node_label
from knit_provider.runners.kubernetes.config import PER_DATA, PodSettings
from knit_provider.runners.kubernetes.names import ANNOTATION, LABEL, claim_name, label_safe, pod_name
from knit_provider.runners.kubernetes.staging import staged_volumes, stagers

__all__ = ["ANNOTATION", "LABEL", "MANAGED_BY", "PodPlan", "RunAssignment", "build_pod", "log_knit_id"]

MANAGED_BY = "airflow-provider-knit"
SHARED_VOLUME = "knit-data"


class Port(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def knit_id(self) -> str: ...


class RunAssignment(Protocol):
    """What the pod needs of the service's ``Assignment`` (runners do not import the service layer)."""

    @property
    def run_id(self) -> str: ...
    @property
    def plan_id(self) -> str: ...
    @property
    def image(self) -> str: ...
    @property
    def entrypoint(self) -> Sequence[str] | None: ...
    @property
    def args(self) -> Sequence[str] | None: ...
    @property
    def inputs(self) -> Sequence[Port]: ...
    @property
    def outputs(self) -> Sequence[Port]: ...
    @property
    def log_path(self) -> Path | None: ...
    @property
    def env(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class PodPlan:
    """The Plan's fields that shape its pods beyond the Assignment: resources, placement, identity."""

    resources: Mapping[str, str] = field(default_factory=dict)
    on_node: OnNode = field(default_factory=OnNode)
    service_account: str | None = None
    annotations: tuple[Annotation, ...] = ()

    @classmethod
    def from_plan_json(cls, plan: Mapping) -> PodPlan:
        """From the Plan JSON the service returns (``plans.show``): on_node and annotations as ``k=v`` text."""
        on_node = plan.get("on_node") or {}
        return cls(
            resources={str(k): str(v) for k, v in (plan.get("resources") or {}).items()},
            on_node=OnNode(**{mode: tuple(parse_node_label(t) for t in on_node.get(mode, ())) for mode in on_node}),
            service_account=plan.get("service_account") or None,
            annotations=tuple(parse_annotation(t) for t in plan.get("annotations") or ()),
        )


def log_knit_id(assignment: RunAssignment) -> str | None:
    """The log Data's knit id: the directory holding the Assignment's log file."""
    return assignment.log_path.parent.name if assignment.log_path is not None else None


def build_pod(assignment: RunAssignment, plan: PodPlan, settings: PodSettings) -> k8s.V1Pod:
    """The whole pod for one Run (``assignment`` is the service's ``Assignment``)."""
    if settings.object_store:
        volumes, mounts = staged_volumes(assignment)
    else:
        volumes, mounts = _volumes(assignment, settings)
    resources = dict(plan.resources)
    container = k8s.V1Container(
        name=settings.container_name,
        image=assignment.image,
        command=list(assignment.entrypoint) if assignment.entrypoint else None,
        args=list(assignment.args) if assignment.args else None,
        env=[k8s.V1EnvVar(name=k, value=v) for k, v in sorted(assignment.env.items())] or None,
        resources=k8s.V1ResourceRequirements(requests=resources, limits=dict(resources)) if resources else None,
        volume_mounts=mounts or None,
    )
    tolerations, affinity = placement(plan.on_node)
    return k8s.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=k8s.V1ObjectMeta(
            name=pod_name(assignment.image, assignment.run_id),
            namespace=settings.namespace,
            labels=labels(assignment, settings),
            annotations=annotations(assignment, plan),
        ),
        spec=k8s.V1PodSpec(
            containers=[container],
            volumes=volumes or None,
            restart_policy="Never",
            tolerations=tolerations or None,
            affinity=affinity,
            service_account_name=plan.service_account,
            # The program gets an API token only when its Plan asks for an identity (as Knitfab: user code
            # does not see the cluster by default), and no service-link environment either way.
            automount_service_account_token=bool(plan.service_account),
            enable_service_links=False,
            image_pull_secrets=[k8s.V1LocalObjectReference(name=s) for s in settings.image_pull_secrets] or None,
            init_containers=stagers(assignment, settings) if settings.object_store else None,
            termination_grace_period_seconds=settings.upload_timeout_s if settings.object_store else None,
        ),
    )


def _volumes(assignment: RunAssignment, settings: PodSettings) -> tuple[list[k8s.V1Volume], list[k8s.V1VolumeMount]]:
    ports = [(p, True) for p in assignment.inputs] + [(p, False) for p in assignment.outputs]
    if settings.volume_mode != PER_DATA:
        volume = k8s.V1Volume(
            name=SHARED_VOLUME,
            persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=settings.data_claim),
        )
        mounts = [
            k8s.V1VolumeMount(name=SHARED_VOLUME, mount_path=p.path, sub_path=p.knit_id, read_only=ro)
            for p, ro in ports
        ]
        return ([volume] if mounts else []), mounts
    names: dict[str, str] = {}  # knit id -> volume name: a Data mounted at two inputs is one volume
    volumes, mounts = [], []
    for port, read_only in ports:
        if port.knit_id not in names:
            names[port.knit_id] = f"data-{len(names)}"
            only_read = all(ro for p, ro in ports if p.knit_id == port.knit_id)
            volumes.append(
                k8s.V1Volume(
                    name=names[port.knit_id],
                    persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(
                        claim_name=claim_name(settings.claim_prefix, port.knit_id), read_only=only_read or None
                    ),
                )
            )
        mounts.append(k8s.V1VolumeMount(name=names[port.knit_id], mount_path=port.path, read_only=read_only))
    return volumes, mounts


def labels(assignment: RunAssignment, settings: PodSettings) -> dict[str, str]:
    """The deployment's extra labels, then Knit's (which win): plan, run, and one per Data it touches."""
    result = dict(settings.extra_labels)
    result.update(
        {
            LABEL.MANAGED_BY: MANAGED_BY,
            LABEL.COMPONENT: "knit-run",
            LABEL.PLAN: label_safe(assignment.plan_id),
            LABEL.RUN: label_safe(assignment.run_id),
        }
    )
    roles = [(p.knit_id, "in") for p in assignment.inputs] + [(p.knit_id, "out") for p in assignment.outputs]
    log_id = log_knit_id(assignment)
    if log_id is not None:
        roles.append((log_id, "log"))
    for knit_id, role in roles:
        result[LABEL.DATA + label_safe(knit_id)] = role
    return result


def annotations(assignment: RunAssignment, plan: PodPlan) -> dict[str, str]:
    """The Plan's annotations, then Knit's exact ids (which win): what label-safety may have shortened."""
    result = {a.key: a.value for a in plan.annotations}
    result.update(
        {
            ANNOTATION.PLAN: assignment.plan_id,
            ANNOTATION.RUN: assignment.run_id,
            ANNOTATION.IMAGE: assignment.image,
            ANNOTATION.INPUTS: json.dumps([{"path": p.path, "knitId": p.knit_id} for p in assignment.inputs]),
            ANNOTATION.OUTPUTS: json.dumps([{"path": p.path, "knitId": p.knit_id} for p in assignment.outputs]),
        }
    )
    log_id = log_knit_id(assignment)
    if log_id is not None:
        result[ANNOTATION.LOG] = log_id
    return result


def placement(on_node: OnNode) -> tuple[list[k8s.V1Toleration], k8s.V1Affinity | None]:
    """``on_node`` as tolerations and node affinity (see the module docstring), in a stable order."""
    tolerations: list[k8s.V1Toleration] = []
    seen: set[tuple[str, str, str]] = set()

    def tolerate(label: NodeLabel, effect: str) -> None:
        if (label.key, label.value, effect) not in seen:
            seen.add((label.key, label.value, effect))
            tolerations.append(k8s.V1Toleration(key=label.key, operator="Equal", value=label.value, effect=effect))

    for label in on_node.may:
        tolerate(label, "NoSchedule")
    for label in (*on_node.prefer, *on_node.must):
        tolerate(label, "NoSchedule")
        tolerate(label, "PreferNoSchedule")

    preferred = [
        k8s.V1PreferredSchedulingTerm(
            weight=1,
            preference=k8s.V1NodeSelectorTerm(
                match_expressions=[k8s.V1NodeSelectorRequirement(key=label.key, operator="In", values=[label.value])]
            ),
        )
        for label in on_node.prefer
    ]
    required_values: dict[str, list[str]] = {}
    for label in on_node.must:
        required_values.setdefault(label.key, [])
        if label.value not in required_values[label.key]:
            required_values[label.key].append(label.value)
    required = None
    if required_values:
        required = k8s.V1NodeSelector(
            node_selector_terms=[
                k8s.V1NodeSelectorTerm(
                    match_expressions=[
                        k8s.V1NodeSelectorRequirement(key=key, operator="In", values=sorted(values))
                        for key, values in sorted(required_values.items())
                    ]
                )
            ]
        )
    if not preferred and required is None:
        return tolerations, None
    node_affinity = k8s.V1NodeAffinity(
        preferred_during_scheduling_ignored_during_execution=preferred or None,
        required_during_scheduling_ignored_during_execution=required,
    )
    return tolerations, k8s.V1Affinity(node_affinity=node_affinity)
