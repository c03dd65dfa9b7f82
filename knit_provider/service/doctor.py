"""``knit admin doctor``: where the Data store, the catalog, Airflow's DagRuns and the Runs' pods disagree, listed
and, with ``fix``, repaired.

Across the catalog, Airflow and the pods: see ``service.consistency`` (Runs nobody runs any more, DagRuns of
finished Runs, pods of finished Runs). In the Data store it finds what a killed process leaves (see
``storage.leftovers``): staging directories of interrupted imports, Data directories that no Data of the catalog
points to (a push killed between its rename and its commit), and the bytes of purged Data (a purge killed between
its commit and the deletion). They are listed only once untouched for a grace period (``older_than``, default
1h), so an import in flight is never taken for an orphan. The generator sweeps them by itself
(``sweep_if_due``), at most once per ``SWEEP_EVERY_S`` for all its processes.
"""

from __future__ import annotations

from collections.abc import Sequence

from knit_provider.catalog import data as catalog_data
from knit_provider.catalog import purge as catalog_purge
from knit_provider.catalog.engine import read_tx
from knit_provider.core.timefmt import parse_duration
from knit_provider.service.consistency import AirflowView, Rules, check
from knit_provider.service.context import Knit
from knit_provider.service.run_pods import PodView
from knit_provider.storage.leftovers import Leftover

DEFAULT_GRACE = "1h"
SWEEP_EVERY_S = 600.0
_CHUNK = 500

KINDS = {
    "staging": "orphaned staging directory (an interrupted upload or deletion)",
    "data": "orphaned data directory (no Data in the catalog has this knit id)",
    "purged": "bytes of a purged Data (a purge cut short before it deleted them)",
}


def _registered(knit: Knit, knit_ids: Sequence[str]) -> set[str]:
    """Which of ``knit_ids`` the catalog has a Data for."""
    found: set[str] = set()
    with read_tx(knit.engine) as conn:
        for start in range(0, len(knit_ids), _CHUNK):
            chunk = list(knit_ids[start : start + _CHUNK])
            found |= catalog_data.registered(conn, chunk)
    return found


def _purged(knit: Knit, knit_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    with read_tx(knit.engine) as conn:
        for start in range(0, len(knit_ids), _CHUNK):
            found |= catalog_purge.purged_with_bytes(conn, list(knit_ids[start : start + _CHUNK]))
    return found


def find_orphans(knit: Knit, *, older_than_s: float) -> list[tuple[str, Leftover]]:
    """(kind, leftover) for every orphan untouched for ``older_than_s`` seconds."""
    staging, data_dirs = knit.store.leftovers(older_than_s)
    ids = [d.knit_id for d in data_dirs if d.knit_id is not None]
    known, purged = _registered(knit, ids), _purged(knit, ids)
    return (
        [("staging", s) for s in staging]
        + [("data", d) for d in data_dirs if d.knit_id not in known]
        + [("purged", d) for d in data_dirs if d.knit_id in purged]
    )


def doctor(
    knit: Knit,
    *,
    fix: bool = False,
    older_than: str = DEFAULT_GRACE,
    rules: Rules | None = None,
    airflow: AirflowView | None = None,
    pods: PodView | None = None,
    not_checked: dict[str, str] | None = None,
) -> dict:
    """What is inconsistent, as JSON: ``{"olderThan", "fixed", "findings": [...], "reclaimedBytes", "notChecked"}``.
    A store finding is ``{"kind", "problem", "path", "ageSeconds", "bytes", "removed", "fixed"}``, the others
    ``{"kind", "problem", "runId", "why", "fixed", ...}``; with ``fix`` every finding is repaired. ``airflow`` and
    ``pods`` are asked where given (``not_checked`` says why one is not)."""
    older_than_s = parse_duration(older_than, field="older-than") / 1000
    report = store_doctor(knit, fix=fix, older_than=older_than)
    found = check(knit, fix=fix, older_than_s=older_than_s, rules=rules or Rules(), airflow=airflow, pods=pods,
                  not_checked=not_checked)  # fmt: skip
    report["findings"] += found.findings
    report["notChecked"] = found.not_checked
    return report


def store_doctor(knit: Knit, *, fix: bool = False, older_than: str = DEFAULT_GRACE) -> dict:
    """The Data store's part of ``doctor`` (the generator's sweep)."""
    older_than_s = parse_duration(older_than, field="older-than") / 1000
    findings = []
    reclaimed = 0
    for kind, leftover in find_orphans(knit, older_than_s=older_than_s):
        size = knit.store.size_of(leftover)
        removed = False
        if fix and (kind != "data" or not _registered(knit, [leftover.knit_id or ""])):
            knit.store.remove_leftover(leftover)
            removed = True
            reclaimed += size
        findings.append(
            {"kind": kind, "problem": KINDS[kind], "path": leftover.name, "ageSeconds": int(leftover.age_s),
             "bytes": size, "removed": removed, "fixed": removed}
        )  # fmt: skip
    return {"olderThan": older_than, "fixed": fix, "findings": findings, "reclaimedBytes": reclaimed}


def sweep_if_due(knit: Knit, *, every_s: float = SWEEP_EVERY_S, older_than: str = DEFAULT_GRACE) -> list[dict]:
    """The generator's sweep on start: ``doctor(fix=True)`` when no process swept this store in ``every_s``
    seconds (one ``stat`` otherwise); returns what it removed."""
    if not knit.store.claim_sweep(every_s):
        return []
    return [f for f in store_doctor(knit, fix=True, older_than=older_than)["findings"] if f["removed"]]
