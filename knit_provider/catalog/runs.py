"""Run lifecycle in the catalog: transitions by the table, finishing, stop, retry and rm.

Rules follow Knitfab: retry and rm are refused while any Run that is not invalidated consumes the
Run's outputs (lineage must never point at discarded Data); both discard the old output and log Data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import Connection, delete, insert, select, update

from knit_provider.catalog import events
from knit_provider.catalog.bulk import chunked
from knit_provider.catalog.causes import ABORT, REMOVE, RETRY, RUN_DONE, STOP, Cause, record_action
from knit_provider.catalog.models import (
    UPLOAD_PLAN_ID,
    data_t,
    data_tags_t,
    output_tags_t,
    outputs_t,
    run_attempts_t,
    run_inputs_t,
    runs_t,
)
from knit_provider.catalog.projection import reproject_data
from knit_provider.catalog.purge import purged_inputs
from knit_provider.core.errors import Conflict, NotFound
from knit_provider.core.lifecycle import RunStatus, check_transition
from knit_provider.core.timefmt import now_ms

S = RunStatus
EXIT_STOPPED = (0, "stopped by user")
EXIT_ABORTED = (253, "aborted by user")
_NO_WORKER = frozenset({S.WAITING, S.DEACTIVATED})


@dataclass
class Outcome:
    """What a Run operation changed beyond its own row: Runs it caused, Data content to discard."""

    created_runs: list[str] = field(default_factory=list)
    discarded_data: list[str] = field(default_factory=list)


def require_run(conn: Connection, run_id: str) -> dict:
    row = conn.execute(select(runs_t).where(runs_t.c.run_id == run_id)).mappings().first()
    if row is None:
        raise NotFound(f"run not found: {run_id}")
    return dict(row)


def outputs_of(conn: Connection, run_id: str) -> list[str]:
    return list(conn.execute(select(data_t.c.knit_id).where(data_t.c.run_id == run_id)).scalars())


def record_content(conn: Connection, contents: dict[str, tuple[str, int]]) -> None:
    """Store the checksum and size of output Data whose content a runner has just written."""
    for knit_id, (checksum, size) in contents.items():
        conn.execute(update(data_t).where(data_t.c.knit_id == knit_id).values(checksum=checksum, size=size))


def transition(
    conn: Connection, run_id: str, target: RunStatus, *, exit_code: int | None = None, exit_message: str | None = None
) -> list[str]:
    """Move a Run by the lifecycle table; finishing stamps time, and done nominates its outputs."""
    run = require_run(conn, run_id)
    check_transition(run_id, RunStatus(run["status"]), target)
    now = now_ms()
    values: dict = {"status": target.value, "updated_at": now}
    if target in (S.DONE, S.FAILED):
        values["finished_at"] = now
    if exit_code is not None:
        values["exit_code"], values["exit_message"] = exit_code, exit_message or ""
    conn.execute(update(runs_t).where(runs_t.c.run_id == run_id).values(**values))
    events.record(conn, run_id, events.previous_of(run), now=now)
    if target is S.DONE:
        return reproject_data(conn, outputs_of(conn, run_id), Cause.of(conn, RUN_DONE, run_id))
    return []


def note_exit(conn: Connection, run_id: str, message: str) -> None:
    """Rewrite the exit message of a Run whose exit is already decided (a stop's, finished by someone else)."""
    conn.execute(update(runs_t).where(runs_t.c.run_id == run_id).values(exit_message=message))


def finalize(conn: Connection, run_id: str) -> list[str]:
    """completing -> done, aborting -> failed: the last step, once no program runs any more."""
    status = RunStatus(require_run(conn, run_id)["status"])
    return transition(conn, run_id, S.DONE if status is S.COMPLETING else S.FAILED)


def stop(conn: Connection, run_id: str, *, fail: bool) -> list[str]:
    """``knit run stop``: completing with exit 0, or with ``--fail`` aborting with exit 253.

    A Run that no worker holds yet (waiting, deactivated) is finalized at once.
    """
    status = RunStatus(require_run(conn, run_id)["status"])
    target, (code, message) = (S.ABORTING, EXIT_ABORTED) if fail else (S.COMPLETING, EXIT_STOPPED)
    transition(conn, run_id, target, exit_code=code, exit_message=message)
    record_action(conn, [run_id], ABORT if fail else STOP, now_ms())
    if status in _NO_WORKER:
        return finalize(conn, run_id)
    return []


def _downstream_runs(conn: Connection, knit_ids: list[str]) -> list[tuple[str, str]]:
    if not knit_ids:
        return []
    return list(
        conn.execute(
            select(runs_t.c.run_id, runs_t.c.status)
            .join(run_inputs_t, run_inputs_t.c.run_id == runs_t.c.run_id)
            .where(run_inputs_t.c.knit_id.in_(knit_ids))
            .distinct()
        ).all()
    )


def _discard_outputs(conn: Connection, run_id: str, verb: str) -> list[str]:
    """Refuse if a standing Run consumes the outputs; drop invalidated consumers; delete the outputs."""
    outputs = outputs_of(conn, run_id)
    downstream = _downstream_runs(conn, outputs)
    standing = sorted(r for r, status in downstream if status != S.INVALIDATED.value)
    if standing:
        raise Conflict(
            f"cannot {verb} run {run_id}: output of the run is in use by run(s) {', '.join(standing)}"
            " (delete all downstreams of the run first)"
        )
    tombstones = [r for r, _ in downstream]
    if tombstones:
        conn.execute(delete(run_inputs_t).where(run_inputs_t.c.run_id.in_(tombstones)))
        conn.execute(delete(runs_t).where(runs_t.c.run_id.in_(tombstones)))
    if outputs:
        conn.execute(delete(data_tags_t).where(data_tags_t.c.knit_id.in_(outputs)))
        conn.execute(delete(data_t).where(data_t.c.knit_id.in_(outputs)))  # nominations cascade
    return outputs


def retry(conn: Connection, run_id: str) -> Outcome:
    """done/failed -> waiting with new output Data; the old outputs are discarded."""
    run = require_run(conn, run_id)
    if run["plan_id"] == UPLOAD_PLAN_ID:
        raise Conflict(f"cannot retry run {run_id}: an upload is a root run and cannot be retried")
    status = RunStatus(run["status"])
    if status is S.INVALIDATED:
        raise NotFound(f"run not found: {run_id} (invalidated)")
    if status not in (S.DONE, S.FAILED):
        raise Conflict(f"cannot retry run {run_id}: it has not finished yet (status {status.value})")
    purged = purged_inputs(conn, run_id)
    if purged:
        raise Conflict(f"cannot retry run {run_id}: its input data {', '.join(purged)} was purged")
    now = now_ms()
    before = events.snapshot(conn, run_id)
    record_action(conn, [run_id], RETRY, now)
    # a new task will beat: the dead attempt's heartbeat must not make the retried Run look lost before it starts
    outcome = _next_attempt(conn, run, S.WAITING, now, dispatched_at=None, heartbeat_at=None)
    events.record(conn, run_id, before, now=now)
    return outcome


def _fresh_outputs(conn: Connection, run_id: str, plan_id: str, now: int) -> None:
    """New, empty output (and log) Data for a Run's next attempt, tagged as its Plan says."""
    for (output_id,) in conn.execute(
        select(outputs_t.c.output_id).where(outputs_t.c.plan_id == plan_id).order_by(outputs_t.c.position)
    ).all():
        knit_id = str(uuid.uuid4())
        conn.execute(insert(data_t).values(knit_id=knit_id, run_id=run_id, output_id=output_id, created_at=now))
        tag_ids = conn.execute(select(output_tags_t.c.tag_id).where(output_tags_t.c.output_id == output_id)).scalars()
        rows = [{"knit_id": knit_id, "tag_id": tag_id} for tag_id in tag_ids]
        if rows:
            conn.execute(insert(data_tags_t), rows)


def begin_attempt(conn: Connection, run_id: str, now: int) -> None:
    """Stamp the start of the Run's current attempt (its timeout counts from here)."""
    conn.execute(update(runs_t).where(runs_t.c.run_id == run_id).values(attempt_started_at=now))


def record_attempt(conn: Connection, run_id: str, now: int) -> None:
    """Keep the ended current attempt (its exit as the Run holds it now) for ``knit run show``."""
    run = require_run(conn, run_id)
    conn.execute(
        insert(run_attempts_t).values(
            run_id=run_id,
            attempt=run["attempt"] or 1,
            started_at=run["attempt_started_at"],
            finished_at=now,
            exit_code=run["exit_code"],
            exit_message=run["exit_message"],
        )
    )


def next_attempt(conn: Connection, run_id: str, *, exit_code: int, message: str) -> Outcome:
    """A failed attempt with retries left (beyond Knitfab): kept with its exit, its outputs discarded, fresh ones
    made, and the Run ``ready`` again for the next attempt of its task (its DagRun lives on); never ``failed``
    in between, so nothing downstream ever sees the failed attempt."""
    now = now_ms()
    conn.execute(update(runs_t).where(runs_t.c.run_id == run_id).values(exit_code=exit_code, exit_message=message))
    before = events.snapshot(conn, run_id)
    record_attempt(conn, run_id, now)
    outcome = _next_attempt(conn, require_run(conn, run_id), S.READY, now, heartbeat_at=None)  # its task tries again
    events.record(conn, run_id, before, now=now)
    return outcome


def _next_attempt(conn: Connection, run: dict, status: RunStatus, now: int, **also: object) -> Outcome:
    """The Run starts over as its next attempt: its outputs discarded (refused while a live Run uses them), fresh
    ones made, the exit of the last attempt cleared, and ``status`` (with ``also``) set."""
    discarded = _discard_outputs(conn, run["run_id"], "retry")
    _fresh_outputs(conn, run["run_id"], run["plan_id"], now)
    conn.execute(
        update(runs_t)
        .where(runs_t.c.run_id == run["run_id"])
        .values(
            status=status.value,
            updated_at=now,
            finished_at=None,
            exit_code=None,
            exit_message=None,
            attempt=(run["attempt"] or 1) + 1,
            attempt_started_at=None,
            **also,
        )
    )
    return Outcome(discarded_data=discarded)


def remove(conn: Connection, run_id: str) -> Outcome:
    """``knit run rm``: an upload is deleted with its Data; any other Run becomes an invalidated tombstone."""
    run = require_run(conn, run_id)
    status = RunStatus(run["status"])
    if status is S.INVALIDATED:
        raise NotFound(f"run not found: {run_id} (already invalidated)")
    if status not in (S.WAITING, S.DEACTIVATED, S.DONE, S.FAILED):
        raise Conflict(f"cannot remove run {run_id}: it is not stopped (status {status.value}); stop it first")
    has_inputs = conn.execute(select(run_inputs_t.c.run_id).where(run_inputs_t.c.run_id == run_id).limit(1)).first()
    before = events.snapshot(conn, run_id) if has_inputs else None
    discarded = _discard_outputs(conn, run_id, "remove")
    if before is not None:
        now = now_ms()
        conn.execute(update(runs_t).where(runs_t.c.run_id == run_id).values(status=S.INVALIDATED.value, updated_at=now))
        record_action(conn, [run_id], REMOVE, now)
        events.record(conn, run_id, before, now=now)
    else:
        conn.execute(delete(runs_t).where(runs_t.c.run_id == run_id))
    return Outcome(discarded_data=discarded)


def status_and_end(conn: Connection, run_ids: set[str]) -> dict[str, tuple[str, int | None]]:
    """Status and end (finished, else last change) of the Runs among ``run_ids`` the catalog has."""
    found: dict[str, tuple[str, int | None]] = {}
    for chunk in chunked(run_ids):
        query = select(runs_t.c.run_id, runs_t.c.status, runs_t.c.finished_at, runs_t.c.updated_at)
        for row in conn.execute(query.where(runs_t.c.run_id.in_(chunk))):
            found[row.run_id] = (row.status, row.finished_at or row.updated_at)
    return found
