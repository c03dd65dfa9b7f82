"""Dry runs: the real write, in a transaction that is always rolled back (``--dry-run``, ``dry_run=true``).

``dry_tx`` takes the same serialized write transaction as ``write_tx`` (so it sees exactly what a write would
see, and nothing commits between the look and the prediction) and marks its connection with a ``DryRun``.
Everything then runs as in the real write: validation, identity and cycle checks, interning, nomination, the
combinations projection would create Runs for, the "never twice" look-up of past combinations. The one step a
dry run skips is ``projection.create_runs``' bulk insert of the Runs and their output Data: it records the
combinations in the ``DryRun`` instead (a Plan matching 10,000 Data must be previewed in well under a second).
Nothing in the same transaction depends on those rows (a new Run's outputs are transient, never nominated), so
the prediction is exactly what the real write creates; a property test holds it to that.

The transaction is rolled back, so nothing is written; and the Runs are never handed to a dispatcher.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from knit_provider.catalog.engine import PROJECTION_LOCK_KEY, catalog_failures

if TYPE_CHECKING:
    from knit_provider.catalog.projection import PlanShape

DRY_RUN_OPTION = "knit_dry_run"


@dataclass
class DryRun:
    """The Runs a dry write would have created: (Plan shape, combinations of knit ids in input order)."""

    planned: list[tuple[PlanShape, list[tuple[str, ...]]]] = field(default_factory=list)

    def record(self, shape: PlanShape, combos: Sequence[Sequence[str]]) -> list[str]:
        """Note the combinations; stand-in ids for the Runs (``dry-run:N``), never stored."""
        first = self.count
        self.planned.append((shape, [tuple(c) for c in combos]))
        return [f"dry-run:{first + n}" for n in range(len(combos))]

    @property
    def count(self) -> int:
        return sum(len(combos) for _, combos in self.planned)


def dry_run_of(conn: Connection) -> DryRun | None:
    """The ``DryRun`` of this transaction, or None in a real write."""
    return conn.get_execution_options().get(DRY_RUN_OPTION)


@contextmanager
def dry_tx(engine: Engine, *, actor: str | None = None) -> Iterator[tuple[Connection, DryRun]]:
    """A serialized write transaction that is rolled back whatever happens, with its ``DryRun``."""
    dry = DryRun()
    with catalog_failures(engine), engine.connect() as conn:
        conn.execution_options(knit_write=True, knit_actor=actor, **{DRY_RUN_OPTION: dry})
        tx = conn.begin()
        try:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PROJECTION_LOCK_KEY})")
            yield conn, dry
        finally:
            tx.rollback()
