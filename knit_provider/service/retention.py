"""Retention: purge Data by a selection (``knit data purge --where``) or by declared policies (``knit_retention``).

Choosing is pure (``core.retention``) over the population the catalog reads in bulk (``catalog.retention``).
Purging goes through purge's own rule, one Data at a time in the write transaction (``catalog.purge.mark_purged``):
a Data an unfinished Run started to use since the choice, or being downloaded, is skipped with the reason, so
retention never purges an input of an unfinished Run whatever happens meanwhile. A dry run lists what would go
and the bytes freed, and writes nothing.

Policies are declared as YAML: in the ``knit`` connection's extra ``retention`` (a YAML text, or the list itself),
else in ``<knit home>/retention.yaml``::

    policies:
      - name: three-models-per-project
        tags: [type:model]
        keep_last: 3
        per: [project]
      - name: failed-after-a-week
        transient: failed
        older_than: 7d
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from knit_provider.catalog import purge as catalog_purge
from knit_provider.catalog import retention as catalog_retention
from knit_provider.catalog.bulk import chunked
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.core.documents import load_yaml
from knit_provider.core.errors import Conflict, InvalidInput
from knit_provider.core.retention import Candidate, Selection, choose, parse_policies
from knit_provider.core.timefmt import format_ms, now_ms
from knit_provider.service.context import Knit

POLICY_FILE = "retention.yaml"
MAX_POLICY_BYTES = 1 << 20
#: Data purged per write transaction (each is checked by purge's own rule first)
BATCH = 200

Report = Callable[[str, int], None]


def selection(
    *,
    tags: Sequence[str] = (),
    transient: str = "both",
    keep_last: int | None = None,
    per: Sequence[str] = (),
    older_than: str | None = None,
    superseded: bool = False,
) -> Selection:
    return Selection.parse(
        tags=tags, transient=transient, keep_last=keep_last, per=per, older_than=older_than, superseded=superseded
    )


def _entry(candidate: Candidate) -> dict:
    return {"knitId": candidate.knit_id, "bytes": candidate.size or 0}


def purge_where(knit: Knit, where: Selection | dict, *, dry_run: bool = False, on_purged: Report | None = None) -> dict:
    """Purge the Data the selection chooses (``dry_run``: only say which, and the bytes that would be freed).

    ``where`` is a ``Selection`` or its JSON form (``Selection.as_json()``; the REST body). ``on_purged(knit_id,
    bytes)`` is told of each Data as it goes (the retention DAG logs them).
    """
    chosen = where if isinstance(where, Selection) else selection(**where)
    now = now_ms()
    with read_tx(knit.engine) as conn:
        choice = choose(catalog_retention.population(conn, chosen, now), chosen, now)
    report = {
        "dryRun": dry_run,
        "selection": chosen.as_json(),
        "population": choice.population,
        "keptNewest": choice.kept_newest,
        "protected": [{"knitId": c.knit_id, "reason": c.in_use} for c in choice.protected],
        "skipped": [],
    }
    if dry_run:
        return report | {
            "data": [_entry(c) for c in choice.selected],
            "count": len(choice.selected),
            "bytes": sum(c.size or 0 for c in choice.selected),
        }
    purged: list[dict] = []
    for batch in chunked(choice.selected, BATCH):
        done: list[Candidate] = []
        with write_tx(knit.engine) as conn:
            for candidate in batch:
                try:
                    if catalog_purge.mark_purged(conn, candidate.knit_id, now_ms()):
                        done.append(candidate)
                except Conflict as err:  # it became an input of an unfinished Run (or a download) meanwhile
                    report["skipped"].append({"knitId": candidate.knit_id, "reason": str(err)})
        for candidate in done:
            knit.store.delete(candidate.knit_id)
            purged.append(_entry(candidate))
            if on_purged is not None:
                on_purged(candidate.knit_id, candidate.size or 0)
    return report | {"data": purged, "count": len(purged), "bytes": sum(p["bytes"] for p in purged)}


# ---- declared policies ----------------------------------------------------------------------------------------


def load_policies(knit: Knit, declared: Any = None, *, source: str = "the knit connection's retention") -> dict:
    """The declared policies: ``declared`` (the ``knit`` connection's ``retention`` extra: YAML text or the loaded
    list/mapping) when given, else ``<knit home>/retention.yaml``; ``{source, policies}`` (none: an empty list)."""
    if declared in (None, "", [], {}):
        path = Path(knit.home) / POLICY_FILE
        if not path.is_file():
            return {"source": str(path), "policies": []}
        if path.stat().st_size > MAX_POLICY_BYTES:
            raise InvalidInput(f"{path}: larger than {MAX_POLICY_BYTES} bytes")
        declared, source = load_yaml(path.read_text(encoding="utf-8"), source=str(path)), str(path)
    elif isinstance(declared, str):
        declared = load_yaml(declared, source=source)
    policies = parse_policies(declared, source=source)
    return {"source": source, "policies": [{"name": p.name, "selection": p.selection.as_json()} for p in policies]}


def apply_policies(knit: Knit, declared: dict, *, dry_run: bool = False, on_purged: Report | None = None) -> list:
    """Apply each declared policy (``load_policies``) in turn and keep its report; return the reports."""
    reports = []
    for policy in declared["policies"]:
        name = policy["name"]
        report = purge_where(
            knit,
            policy["selection"],
            dry_run=dry_run,
            on_purged=None if on_purged is None else lambda k, b, n=name: on_purged(f"{k} [policy {n}]", b),
        )
        report = {"policy": name, "ranAt": format_ms(now_ms()), **report}
        with write_tx(knit.engine) as conn:
            catalog_retention.record_report(conn, name, report, now_ms())
        reports.append(report)
    return reports


def overview(knit: Knit, declared: Any = None) -> dict:
    """The policies and each one's last report (the Retention page, ``GET /knit/api/retention``)."""
    policies = load_policies(knit, declared)
    with read_tx(knit.engine) as conn:
        reports = catalog_retention.last_reports(conn)
    return policies | {"reports": reports}
