"""``knit admin doctor``'s look across the catalog, Airflow's DagRuns and (the kubernetes runner) the Runs' pods.

What it finds, and what ``--fix`` does:
- ``lost-run``: a held Run nobody runs any more (``service.reconciliation``: its task stopped beating, its attempt
  outlived its timeout, its pod vanished, its DagRun ended or vanished) -> concluded as the generator would.
- ``stray-dagrun``: a queued or running DagRun ``knit__<run id>`` whose Run has finished, was removed or never
  existed -> the DagRun is set to failed (so Airflow stops running or queueing it).
- ``leftover-pod``: a pod labelled with the id of a Run that has finished (or does not exist), as a task that died
  leaves it -> the pod is deleted.
Airflow and the pods are asked only where they can be: ``airflow`` and ``pods`` are None otherwise, and the report
says what was not checked. Each finding must have lasted ``older_than_s`` (lost Runs: by their own timeouts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from knit_provider.catalog import runs as catalog_runs
from knit_provider.catalog.engine import read_tx
from knit_provider.core.airflow_names import Dispatch, run_id_of_dagrun
from knit_provider.core.lifecycle import TERMINAL
from knit_provider.core.run_control import RunControl
from knit_provider.core.timefmt import now_ms
from knit_provider.service.context import Knit
from knit_provider.service.reconciliation import conclude_lost, find_lost, one_by_one, still_vanished
from knit_provider.service.run_pods import PodView

FINISHED = frozenset(s.value for s in TERMINAL)
KINDS = {
    "lost-run": "a Run held in the catalog that nobody runs any more",
    "stray-dagrun": "an unfinished Airflow DagRun whose Run has finished or does not exist",
    "leftover-pod": "a pod of a Run that has finished or does not exist",
}


class AirflowView(Protocol):
    def dagrun_state(self, dispatch: Dispatch) -> str | None: ...

    def unfinished_dagruns(self) -> list[tuple[str, str, str, int | None]]: ...

    def fail_dagrun(self, dag_id: str, dagrun_id: str) -> None: ...


@dataclass(frozen=True)
class Rules:
    """The ``[knit]`` settings the lost-Run rules follow (the generator's)."""

    heartbeat_timeout_s: float = 30.0
    reconcile_interval_s: float = 10.0
    default_control: RunControl = field(default_factory=RunControl)


@dataclass
class Consistency:
    findings: list[dict] = field(default_factory=list)
    not_checked: dict[str, str] = field(default_factory=dict)


def _runs(knit: Knit, run_ids: set[str]) -> dict[str, tuple[str, int | None]]:
    """Status and end (finished, else last change) of the Runs among ``run_ids`` the catalog has."""
    with read_tx(knit.engine) as conn:
        return catalog_runs.status_and_end(conn, run_ids)


def _gone(known: dict[str, tuple[str, int | None]], run_id: str | None, since: int | None, cutoff: int) -> str | None:
    """Why a DagRun or pod of ``run_id`` should not exist any more (None: it should), when that lasted."""
    if run_id is None or run_id not in known:
        return "no such Run" if since is None or since <= cutoff else None
    status, ended = known[run_id]
    if status in FINISHED and (ended is None or ended <= cutoff):
        return f"its Run is {status}"
    return None


def _attempt(fix: bool, finding: dict, repair: Callable[[], object]) -> None:
    if not fix:
        return
    try:
        repair()
        finding["fixed"] = True
    except Exception as err:  # one repair failing never hides the others
        finding["error"] = str(err)


def check(
    knit: Knit,
    *,
    fix: bool,
    older_than_s: float,
    rules: Rules,
    airflow: AirflowView | None,
    pods: PodView | None,
    not_checked: dict[str, str] | None = None,
) -> Consistency:
    result = Consistency(not_checked=dict(not_checked or {}))
    cutoff = now_ms() - int(older_than_s * 1000)
    pod_list = None
    if pods is not None:
        try:
            pod_list = pods.run_pods()
        except Exception as err:
            result.not_checked["pods"] = f"the cluster could not be asked: {err}"
    dagruns = None
    if airflow is not None:
        try:
            dagruns = airflow.unfinished_dagruns()
        except Exception as err:
            result.not_checked["dagRuns"] = f"Airflow could not be asked: {err}"
            airflow = None

    pods_now = (lambda: {p.run_id for p in pods.run_pods()}) if pod_list is not None and pods is not None else None
    states = one_by_one(airflow.dagrun_state) if airflow is not None else None
    lost = find_lost(
        knit, states, heartbeat_timeout_s=rules.heartbeat_timeout_s,
        default_control=rules.default_control, grace_s=rules.reconcile_interval_s,
        pods={p.run_id for p in pod_list} if pod_list is not None else None,
    )  # fmt: skip
    for one in lost:
        finding = {"kind": "lost-run", "problem": KINDS["lost-run"], "runId": one.dispatch.run_id, "why": one.why,
                   "fixed": False}  # fmt: skip
        _attempt(fix, finding, lambda one=one: conclude_lost(knit, still_vanished(knit, [one], pods_now)))
        result.findings.append(finding)

    known = _runs(knit, {run_id_of_dagrun(d[1]) or "" for d in dagruns or []} | {p.run_id for p in pod_list or []})
    for dag_id, dagrun_id, state, queued_at in dagruns or []:
        why = _gone(known, run_id_of_dagrun(dagrun_id), queued_at, cutoff)
        if why is None:
            continue
        finding = {"kind": "stray-dagrun", "problem": KINDS["stray-dagrun"], "runId": run_id_of_dagrun(dagrun_id),
                   "dagId": dag_id, "dagRunId": dagrun_id, "state": state, "why": why, "fixed": False}  # fmt: skip
        _attempt(fix, finding, lambda d=dag_id, r=dagrun_id: airflow.fail_dagrun(d, r))
        result.findings.append(finding)
    for pod in pod_list or []:
        why = _gone(known, pod.run_id, pod.created_at, cutoff)
        if why is None:
            continue
        finding = {"kind": "leftover-pod", "problem": KINDS["leftover-pod"], "runId": pod.run_id,
                   "pod": f"{pod.namespace}/{pod.name}", "phase": pod.phase, "why": why, "fixed": False}  # fmt: skip
        _attempt(fix, finding, lambda pod=pod: pods.delete(pod))
        result.findings.append(finding)
    return result
