"""Who and what caused a write, recorded on the Runs it creates and on the Runs changed by hand (``knit explain
run``).

One mechanism, in two halves:

- **Who** travels with the write transaction. The ``Knit`` handle carries an ``actor`` that each entry point sets,
  as it sets its dispatcher: the OS user of a local ``knit`` command, the Airflow user of a REST or page request.
  ``Knit.write()`` opens the serialized write transaction with it (``write_tx(engine, actor=...)``, an execution
  option of that connection), and any catalog function running inside reads it with ``actor_of(conn)``, so no
  signature between the service and ``create_runs`` has to carry it. A write made without one (a Run's task
  reporting its end, the generator) records NULL: the event still says what happened.
- **What** is known where the event is handled: each catalog function that can create Runs passes its ``Cause``
  down to projection: ``register_upload`` (an upload, naming the new Data), ``edit_tags`` (a tag edit, the Data),
  ``runs.transition`` to done (a Run finished, naming it), ``insert_plan`` (a Plan applied, naming it).
  ``projection.create_runs`` stores it on every Run it creates, in the transaction that caused them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, update

from knit_provider.catalog.bulk import chunked
from knit_provider.catalog.models import runs_t

UPLOAD = "upload"
TAG_EDIT = "tag-edit"
RUN_DONE = "run-done"
PLAN_APPLY = "plan-apply"

#: changes made to Runs by hand (``action``)
RETRY, STOP, ABORT, REMOVE, ACTIVATE, DEACTIVATE = "retry", "stop", "abort", "rm", "activate", "deactivate"

ACTOR_OPTION = "knit_actor"
MAX_ACTOR = 255


def actor_of(conn: Connection) -> str | None:
    """Who writes in this transaction (``Knit.actor``), or None."""
    return conn.get_execution_options().get(ACTOR_OPTION)


def clip_actor(actor: str | None) -> str | None:
    """An actor as the catalog keeps it: one line, at most ``MAX_ACTOR`` characters."""
    if actor is None:
        return None
    text = " ".join(actor.split())
    return text[: MAX_ACTOR - 3] + "..." if len(text) > MAX_ACTOR else text or None


@dataclass(frozen=True)
class Cause:
    """The event that creates Runs: its kind, what it concerned (a knit id, run id or plan id) and who wrote it."""

    kind: str
    ref: str
    actor: str | None = None

    @classmethod
    def of(cls, conn: Connection, kind: str, ref: str) -> Cause:
        return cls(kind, ref, clip_actor(actor_of(conn)))

    def columns(self) -> dict[str, str | None]:
        return {"cause": self.kind, "cause_ref": self.ref, "cause_actor": self.actor}


def record_action(conn: Connection, run_ids: Sequence[str], action: str, at_ms: int) -> None:
    """Note a change made by hand to these Runs, by this transaction's actor."""
    actor = clip_actor(actor_of(conn))
    for chunk in chunked(run_ids):
        conn.execute(
            update(runs_t).where(runs_t.c.run_id.in_(chunk)).values(action=action, action_actor=actor, action_at=at_ms)
        )
