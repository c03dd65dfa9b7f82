"""What Airflow needs to build one DAG per Plan, decided without Airflow (like cosmos' intermediate graph)."""

from __future__ import annotations

from dataclasses import dataclass, field

from knit_provider.catalog import plans as catalog_plans
from knit_provider.catalog.engine import read_tx
from knit_provider.core.airflow_names import plan_dag_id
from knit_provider.core.run_control import RunControl
from knit_provider.service.context import Knit


@dataclass(frozen=True)
class PlanDag:
    """One Plan as a DAG: its id, whether it runs (active), and its ports for the DAG's description."""

    dag_id: str
    plan_id: str
    image: str
    active: bool
    inputs: list[str]
    outputs: list[str]
    control: RunControl = field(default_factory=RunControl)  # the Plan's own timeout and retries
    annotations: tuple[tuple[str, str], ...] = ()  # (key, value): ``knit.notify.*`` name its notifiers

    @property
    def description(self) -> str:
        return f"Knit Plan {self.plan_id}: {self.image}"


def plan_dags(knit: Knit) -> list[PlanDag]:
    """Every Plan but the upload pseudo-plan, in creation order."""
    with read_tx(knit.engine) as conn:
        rows = catalog_plans.plans_with_ports(conn)
    return [
        PlanDag(plan_dag_id(image, plan_id), plan_id, image or "", active, inputs, outputs, control,
                tuple(_pair(a) for a in annotations))
        for plan_id, image, active, inputs, outputs, control, annotations in rows
    ]  # fmt: skip


def _pair(annotation: str) -> tuple[str, str]:
    key, _, value = annotation.partition("=")
    return key.strip(), value.strip()
