"""Runs' pods as the reconciliation and the doctor see them (the kubernetes runner), whoever lists them: the
``hooks.pods`` adapter asks the cluster through the cncf.kubernetes provider's hook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from knit_provider.runners.kubernetes.names import ANNOTATION, LABEL

RUN_LABEL = LABEL.RUN
RUN_ANNOTATION = ANNOTATION.RUN


@dataclass(frozen=True)
class RunPod:
    """A pod carrying a Knit Run's label: its name, namespace, the Run's exact id (its annotation), when it was
    created (epoch ms, None when unknown) and its phase."""

    name: str
    namespace: str
    run_id: str
    created_at: int | None = None
    phase: str | None = None


class PodView(Protocol):
    def run_pods(self) -> list[RunPod]:
        """Every pod labelled with a Knit Run id in the Runs' namespace."""
        ...

    def delete(self, pod: RunPod) -> None:
        """Delete the pod (gone already: nothing to do)."""
        ...
