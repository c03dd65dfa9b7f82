"""Retention in the catalog: the population a selection ranks, in one query, and the policies' reports.

The population: Data not purged yet whose Run has finished (done, or failed), carrying the selection's tags,
filtered by transience. For each: its ``knit#timestamp``, size, the values of the ``per`` keys (of a key a Data
carries several values of: the smallest), whether some Run used it, and what protects it (an unfinished Run using
it, a download in progress): the same facts purge's own ``blocker`` checks one Data at a time (``catalog.purge``),
here for 100,000 Data at once.
"""

from __future__ import annotations

import json
import uuid

from sqlalchemy import Connection, func, select

from knit_provider.catalog.models import (
    data_reads_t,
    data_t,
    data_tags_t,
    retention_reports_t,
    run_inputs_t,
    runs_t,
    tags_t,
)
from knit_provider.catalog.tagstore import lookup_tag_ids
from knit_provider.core.lifecycle import LIVE, RunStatus
from knit_provider.core.retention import Candidate, Selection

_LIVE = [s.value for s in LIVE]


def population(conn: Connection, selection: Selection, now_ms: int) -> list[Candidate]:
    """The Data a selection ranks (see the module's docstring), oldest first: one query for the Data, one for the
    Data unfinished Runs use (one such Run each: purge's own words), one per ``per`` key, one for the Data any Run
    used (only for ``superseded``)."""
    statuses = {"both": ["done", "failed"], "no": ["done"], "failed": ["failed"]}[selection.transient]
    query = (
        select(data_t.c.knit_id, data_t.c.size, runs_t.c.finished_at)
        .join(runs_t, runs_t.c.run_id == data_t.c.run_id)
        .where(data_t.c.purged_at.is_(None), runs_t.c.status.in_(statuses), runs_t.c.finished_at.is_not(None))
    )
    if selection.tags:
        ids = lookup_tag_ids(conn, selection.tags)
        if len(ids) < len(set(selection.tags)):
            return []
        carrying = (
            select(data_tags_t.c.knit_id)
            .where(data_tags_t.c.tag_id.in_(list(ids.values())))
            .group_by(data_tags_t.c.knit_id)
            .having(func.count() == len(ids))
        )
        query = query.where(data_t.c.knit_id.in_(carrying))
    rows = conn.execute(query.order_by(runs_t.c.finished_at, data_t.c.knit_id)).all()
    if not rows:
        return []
    busy = {
        knit_id: f"run {run_id} uses it and has not finished (status {status})"
        for knit_id, run_id, status in (
            (knit_id, *first.rpartition(":")[::2])
            for knit_id, first in conn.execute(
                select(run_inputs_t.c.knit_id, func.min(runs_t.c.run_id + ":" + runs_t.c.status))
                .join(runs_t, runs_t.c.run_id == run_inputs_t.c.run_id)
                .where(runs_t.c.status.in_(_LIVE))
                .group_by(run_inputs_t.c.knit_id)
            ).all()
        )
    }
    for knit_id in conn.execute(select(data_reads_t.c.knit_id).where(data_reads_t.c.expires_at > now_ms)).scalars():
        busy.setdefault(knit_id, "it is being downloaded")
    used: set[str] = set()
    if selection.superseded:
        used = set(
            conn.execute(
                select(run_inputs_t.c.knit_id)
                .join(runs_t, runs_t.c.run_id == run_inputs_t.c.run_id)
                .where(runs_t.c.status != RunStatus.INVALIDATED.value)
                .distinct()
            ).scalars()
        )
    values = [_values_of(conn, key) for key in selection.per]
    if len(values) == 1:  # the usual case, kept cheap: 100,000 Data are 100,000 groups to look up
        (only,) = values
        groups = {knit_id: (value,) for knit_id, value in only.items()}
        nothing: tuple = (None,)
    else:
        groups = {}
        nothing = tuple(None for _ in values)
        if values:
            for knit_id in {k for by_data in values for k in by_data}:
                groups[knit_id] = tuple(by_data.get(knit_id) for by_data in values)
    return [
        Candidate(knit_id, finished_at, size, groups.get(knit_id, nothing), knit_id in used, busy.get(knit_id))
        for knit_id, size, finished_at in rows
    ]


def _values_of(conn: Connection, key: str) -> dict[str, str]:
    """Each Data's value of the tag key (of several values, the smallest)."""
    values: dict[str, str] = {}
    for knit_id, value in conn.execute(
        select(data_tags_t.c.knit_id, tags_t.c.value)
        .join(tags_t, tags_t.c.tag_id == data_tags_t.c.tag_id)
        .where(tags_t.c.key == key)
    ).all():
        if knit_id not in values or value < values[knit_id]:
            values[knit_id] = value
    return values


# ---- the policies' reports ------------------------------------------------------------------------------------


def record_report(conn: Connection, policy: str, report: dict, now_ms: int) -> None:
    conn.execute(
        retention_reports_t.insert().values(
            report_id=str(uuid.uuid4()),
            policy=policy,
            ran_at=now_ms,
            dry_run=bool(report.get("dryRun")),
            count=report["count"],
            bytes=report["bytes"],
            report=json.dumps(report),
        )
    )


def last_reports(conn: Connection) -> dict[str, dict]:
    """The newest report of each policy."""
    newest = (
        select(retention_reports_t.c.policy, func.max(retention_reports_t.c.ran_at).label("ran_at"))
        .group_by(retention_reports_t.c.policy)
        .subquery()
    )
    rows = conn.execute(
        select(retention_reports_t.c.policy, retention_reports_t.c.report).join(
            newest,
            (newest.c.policy == retention_reports_t.c.policy) & (newest.c.ran_at == retention_reports_t.c.ran_at),
        )
    )
    return {policy: json.loads(text) for policy, text in rows}
