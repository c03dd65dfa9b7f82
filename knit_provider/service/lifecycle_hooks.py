"""Knitfab's lifecycle hooks, delivered at least once from an outbox in the catalog, and Run status changes handed
to Airflow's listeners (beyond Knitfab in the delivery; Knitfab's own configuration, payload and env answer).

The path of a call, and why it survives a restart of any component:

1. A status change writes a journal row (``catalog.events``) in its own transaction: nothing can change a Run
   without leaving it, and a crash right after the commit loses nothing.
2. ``consume_events`` turns journal rows into outbox rows (``catalog.hook_outbox``: one per hooked change, phase
   and URL of ``[knit] hooks``; Knitfab's "before" call carries the Run as it was, the "after" call as it is),
   hands each change to Airflow's listeners (``publish``) and deletes the journal rows, in that order: a crash in
   between repeats a step, never skips one (so a listener may see a change twice).
3. ``deliver_due`` calls the oldest pending call of each Run and URL whose backoff has passed (1 s, 2 s, 4 s, ...
   up to ``hook_max_backoff``), and records the outcome; a call still failing ``hook_expire`` after it was
   recorded is given up (``failed``; ``knit admin hooks`` lists it) and the next call of that Run and URL goes.
   A URL that fails is not called again in the same round, so a dead endpoint costs one timeout per round.

Who runs steps 2 and 3: the generator's pass (woken by its trigger whenever calls are due or changes wait, with
hooks configured), and a Run's own task, which delivers its Run's calls when it ends (so they do not wait for a
pass) and makes the one synchronous call Knitfab's semantics need: ``before_starting``, whose answers give the
Run environment variables. Every step reads and writes only the catalog, so whichever process runs next (after a
restart of the scheduler, the triggerer, a worker or the whole Airflow) carries on where the last one stopped.
A hook that keeps failing never holds a Run: it is retried on the side until it expires.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from knit_provider.catalog import events as catalog_events
from knit_provider.catalog import hook_outbox as outbox
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.catalog.events import RunEvent
from knit_provider.core.errors import KnitError, UsageError, shown
from knit_provider.core.hook_config import HOOKED, STARTING, HookConfig, env_of_answer
from knit_provider.core.timefmt import format_ms, now_ms
from knit_provider.service.context import Knit
from knit_provider.service.hook_calls import HookSettings, post, shown_url

log = logging.getLogger(__name__)

#: Hands a status change to Airflow's listeners (the adapters pass one in); exceptions are logged, not raised.
Publisher = Callable[[RunEvent], None]
#: Journal rows older than this wake the generator (with hooks configured): the Run's task had its chance.
EVENT_GRACE_S = 1.0
DELIVERED_KEPT_S = 86400.0
FAILED_KEPT_S = 7 * 86400.0
ROUND_BUDGET_S = 60.0


def calls_of(event: RunEvent, config: HookConfig) -> list[outbox.Call]:
    """The hook calls one status change makes: the "before" URLs with the Run as it was, then the "after" URLs
    with the Run as it is (only for the changes Knitfab calls hooks for)."""
    if event.to_status not in HOOKED or event.to_status == event.from_status:
        return []
    payloads = {"before": event.run_before, "after": event.run}
    return [
        outbox.Call(event.run_id, event.attempt, event.from_status, event.to_status, phase, url, payloads[phase])
        for phase in ("before", "after")
        for url in config.urls(phase)
    ]


def consume_events(
    knit: Knit,
    hooks: HookSettings,
    *,
    publish: Publisher | None = None,
    run_id: str | None = None,
    older_than_s: float | None = None,
) -> int:
    """Fan the journal out into hook calls and listeners, then forget it (all of it, one Run's, or what is older
    than ``older_than_s``). Returns how many changes were consumed; nothing when the hook configuration cannot be
    read (the journal waits until it can)."""
    try:
        config = hooks.config()
    except KnitError as err:
        log.error("lifecycle hooks not called: %s", err)
        return 0
    consumed = 0
    while True:
        older_than = now_ms() - int(older_than_s * 1000) if older_than_s is not None else None
        with read_tx(knit.engine) as conn:
            batch = catalog_events.pending(conn, run_id=run_id, older_than=older_than)
        if not batch:
            return consumed
        calls = [call for event in batch for call in calls_of(event, config)]
        with write_tx(knit.engine) as conn:
            outbox.enqueue(conn, calls, now=now_ms())
        for event in batch if publish is not None else ():
            try:
                publish(event)
            except Exception:
                log.exception("a listener failed on Run %s (%s -> %s)", event.run_id, event.from_status,
                              event.to_status)  # fmt: skip
        with write_tx(knit.engine) as conn:
            catalog_events.forget(conn, [e.event_id for e in batch])
        consumed += len(batch)


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed_tries: int = 0
    given_up: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # shown URL -> last error this round

    def as_dict(self) -> dict:
        return {"delivered": self.delivered, "failedTries": self.failed_tries, "givenUp": self.given_up}


def _record(knit: Knit, hooks: HookSettings, delivery: outbox.Delivery, error: str | None) -> bool:
    """A try's outcome; True when the call failed for good (expired)."""
    now = now_ms()
    with write_tx(knit.engine) as conn:
        if error is None:
            outbox.delivered(conn, delivery.delivery_id, now=now)
            return False
        give_up = now - delivery.created_at >= hooks.expire_s * 1000
        retry_at = now + int(hooks.backoff_s(delivery.tries + 1) * 1000)
        outbox.tried(conn, delivery.delivery_id, now=now, error=error, next_try_at=retry_at, give_up=give_up)
        return give_up


def deliver_due(
    knit: Knit, hooks: HookSettings, *, run_id: str | None = None, budget_s: float = ROUND_BUDGET_S
) -> DeliveryReport:
    """Call every due call that heads its Run and URL (all Runs', or one Run's), until none is due, each URL
    failed once this round, or ``budget_s`` passed."""
    report = DeliveryReport()
    began = time.monotonic()
    lease_ms = int((hooks.timeout_s * 2 + 5) * 1000)
    with write_tx(knit.engine) as conn:
        report.given_up += outbox.expire(conn, created_before=now_ms() - int(hooks.expire_s * 1000), now=now_ms())
    down: set[str] = set()
    while time.monotonic() - began < budget_s:
        with write_tx(knit.engine) as conn:
            heads = outbox.claim_heads(conn, now=now_ms(), lease_ms=lease_ms, run_id=run_id)
            skipped = [d.delivery_id for d in heads if d.url in down]
            outbox.release(conn, skipped)
        heads = [d for d in heads if d.url not in down]
        if not heads:
            return report
        for delivery in heads:
            if delivery.url in down or time.monotonic() - began >= budget_s:
                with write_tx(knit.engine) as conn:
                    outbox.release(conn, [delivery.delivery_id])
                continue
            answer = post(delivery.url, delivery.payload, timeout_s=hooks.timeout_s)
            if _record(knit, hooks, delivery, answer.error):
                report.given_up += 1
            if answer.ok:
                report.delivered += 1
            else:
                report.failed_tries += 1
                down.add(delivery.url)
                report.errors[shown_url(delivery.url)] = answer.error or ""
                log.warning("hook %s (%s of Run %s -> %s) failed: %s; retried later", shown_url(delivery.url),
                            delivery.phase, delivery.run_id, delivery.to_status, answer.error)  # fmt: skip
    return report


def _settle(knit: Knit, hooks: HookSettings, run_id: str) -> None:
    """The Run's earlier changes handed over and their calls made (or backing off after a failure), waiting a
    little for calls another deliverer is making right now: order per Run and URL holds either way."""
    deadline = time.monotonic() + hooks.timeout_s * 2
    consume_events(knit, hooks, run_id=run_id)
    while True:
        deliver_due(knit, hooks, run_id=run_id, budget_s=max(0.0, deadline - time.monotonic()))
        with read_tx(knit.engine) as conn:
            in_flight = outbox.in_flight(conn, run_id, now=now_ms())
        if not in_flight or time.monotonic() >= deadline:
            return
        time.sleep(0.1)


def _pending(delivery_id: int, call: outbox.Call, now: int) -> outbox.Delivery:
    return outbox.Delivery(
        delivery_id=delivery_id, run_id=call.run_id, attempt=call.attempt, from_status=call.from_status,
        to_status=call.to_status, phase=call.phase, url=call.url, payload=call.payload, state=outbox.PENDING,
        created_at=now, tries=0, next_try_at=now, last_error=None, ended_at=None,
    )  # fmt: skip


def before_starting(knit: Knit, hooks: HookSettings, run_id: str) -> dict[str, str]:
    """Knitfab's "before starting" call, made by the Run's task just before ready -> starting, after the Run's
    earlier calls (in order); the environment its answers give the Run. A URL still holding earlier calls of
    this Run, or failing now, gets the call queued (delivered later, at least once) and gives no environment:
    a hook never holds a Run."""
    try:
        config = hooks.config()
    except KnitError as err:
        log.error("lifecycle hooks not called: %s", err)
        return {}
    if not config.before:
        return {}
    _settle(knit, hooks, run_id)
    with read_tx(knit.engine) as conn:
        run = catalog_events.snapshot(conn, run_id)
    env: dict[str, str] = {}
    lease_ms = int((hooks.timeout_s * 2 + 5) * 1000)
    for url in config.before:
        call = outbox.Call(run_id, run.get("attempt", 1), run["status"], STARTING, "before", url, run)
        with write_tx(knit.engine) as conn:
            blocked = outbox.has_pending_before(conn, run_id, url)
            now = now_ms()
            ids = outbox.enqueue(conn, [call], now=now, next_try_at=now if blocked else now + lease_ms)
        if blocked or not ids:
            continue
        answer = post(url, run, timeout_s=hooks.timeout_s)
        _record(knit, hooks, _pending(ids[0], call, now), answer.error)
        if not answer.ok:
            log.warning("before-starting hook %s failed: %s; the Run starts without its environment (the call is "
                        "retried later)", shown_url(url), answer.error)  # fmt: skip
            continue
        taken, ignored = env_of_answer(answer.content_type, answer.body)
        if ignored:
            log.warning("hook %s: ignored environment entries %s (names and values must be strings)",
                        shown_url(url), ", ".join(ignored))  # fmt: skip
        env.update(taken)
    return env


def after_run(knit: Knit, hooks: HookSettings, run_id: str, *, publish: Publisher | None = None) -> None:
    """The Run's task, once its attempt ended: its status changes go to the hooks and listeners now, not at the
    generator's next pass. Never raises: the Run's outcome is recorded already."""
    try:
        consume_events(knit, hooks, publish=publish, run_id=run_id)
        if hooks.configured:
            deliver_due(knit, hooks, run_id=run_id, budget_s=hooks.timeout_s * 2)
    except Exception:
        log.exception("lifecycle hooks of Run %s left to the generator", run_id)


def hook_work(knit: Knit, hooks: HookSettings) -> int:
    """What the generator's trigger watches with hooks configured: calls due, and changes the journal holds
    (past a short grace, in which the Run's own task usually takes them)."""
    if not hooks.configured:
        return 0
    now, active = now_ms(), hooks.active()
    with read_tx(knit.engine) as conn:
        due = outbox.due_count(conn, now=now)
        return due + (catalog_events.count_older_than(conn, now - int(EVENT_GRACE_S * 1000)) if active else 0)


def housekeeping(knit: Knit) -> int:
    """Forget calls delivered a day ago and calls given up a week ago."""
    now = now_ms()
    with write_tx(knit.engine) as conn:
        return outbox.prune(
            conn, delivered_before=now - int(DELIVERED_KEPT_S * 1000), failed_before=now - int(FAILED_KEPT_S * 1000)
        )


def deliveries(knit: Knit, *, states: tuple[str, ...] = (outbox.PENDING, outbox.FAILED), run_id: str | None = None,
               ) -> list[dict]:  # fmt: skip
    """``knit admin hooks``: the calls pending and failed, oldest first, as JSON (URLs with credentials masked)."""
    for state in states:
        if state not in outbox.STATES:
            raise UsageError(f"unknown delivery state {shown(state)} (one of {', '.join(outbox.STATES)})")
    with read_tx(knit.engine) as conn:
        found = outbox.listing(conn, states, run_id=run_id)
    return [
        {
            "deliveryId": d.delivery_id,
            "runId": d.run_id,
            "attempt": d.attempt,
            "transition": f"{d.from_status} -> {d.to_status}",
            "phase": d.phase,
            "url": shown_url(d.url),
            "state": d.state,
            "tries": d.tries,
            "lastError": d.last_error,
            "createdAt": format_ms(d.created_at),
            **({"nextTryAt": format_ms(d.next_try_at)} if d.state == outbox.PENDING else {}),
            **({"endedAt": format_ms(d.ended_at)} if d.ended_at is not None else {}),
        }
        for d in found
    ]
