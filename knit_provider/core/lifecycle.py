"""The Run lifecycle: statuses and the only transitions allowed between them (Knitfab's table)."""

from __future__ import annotations

from enum import StrEnum

from knit_provider.core.errors import IllegalTransition, InvalidInput, UsageError, shown


class RunStatus(StrEnum):
    DEACTIVATED = "deactivated"
    WAITING = "waiting"
    READY = "ready"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETING = "completing"
    ABORTING = "aborting"
    DONE = "done"
    FAILED = "failed"
    INVALIDATED = "invalidated"


S = RunStatus
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    S.DEACTIVATED: frozenset({S.WAITING, S.ABORTING}),
    S.WAITING: frozenset({S.DEACTIVATED, S.READY, S.ABORTING}),
    S.READY: frozenset({S.STARTING, S.RUNNING, S.COMPLETING, S.ABORTING}),
    S.STARTING: frozenset({S.RUNNING, S.COMPLETING, S.ABORTING}),
    S.RUNNING: frozenset({S.COMPLETING, S.ABORTING}),
    S.COMPLETING: frozenset({S.DONE}),
    S.ABORTING: frozenset({S.FAILED}),
    S.DONE: frozenset(),
    S.FAILED: frozenset(),
    S.INVALIDATED: frozenset(),
}
TERMINAL = frozenset({S.DONE, S.FAILED, S.INVALIDATED})
FINISHED = frozenset({S.DONE, S.FAILED})
#: Statuses whose Run may still produce or consume Data: they block retry/rm of their upstream.
LIVE = frozenset(set(RunStatus) - TERMINAL)
#: What ``knit run find -s`` accepts: Knitfab's server refuses ``invalidated`` there (tombstones are not found).
FINDABLE = tuple(s for s in RunStatus if s is not S.INVALIDATED)

EXIT_STOPPED = (0, "stopped by user")
EXIT_STOPPED_FAIL = (253, "stopped by user (--fail)")


def parse_status(text: str, *, field: str = "status") -> RunStatus:
    try:
        return RunStatus(text.strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise InvalidInput(f"unknown run status {shown(text)} (one of {known})", field=field) from None


def parse_status_filter(text: str, *, field: str = "status") -> RunStatus:
    """A status to find Runs by: a usage error unless it is one of ``FINDABLE`` (Knitfab's rule)."""
    status = RunStatus._value2member_map_.get(text.strip().lower()) if isinstance(text, str) else None
    if status not in FINDABLE:
        allowed = ", ".join(s.value for s in FINDABLE)
        raise UsageError(f"{shown(text)} is not a status Runs can be found by (one of {allowed})", field=field)
    return status


def check_transition(run_id: str, current: RunStatus, target: RunStatus) -> None:
    """Raise unless the table allows ``current -> target``; never a silent no-op."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (terminal)"
        raise IllegalTransition(
            f"run {run_id}: cannot go from {current.value} to {target.value} (allowed next: {allowed})"
        )


def transient_state(status: RunStatus) -> str | None:
    """The ``knit#transient`` value of Data produced by a Run in ``status`` (None once done)."""
    if status is S.DONE:
        return None
    if status in (S.FAILED, S.INVALIDATED):
        return "failed"
    return "processing"
