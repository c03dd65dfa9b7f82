"""Reading a Data's bytes (downloads, ``knit data pull``): under a lease in the catalog, which purge waits for.

The lease is a ``knit_data_reads`` row that expires ``LEASE_S`` seconds ahead; a thread renews it every quarter of
that while the read lasts (a slow client included), and the read deletes it at the end. A reader that crashed
stops blocking purge once its lease has expired: no process has to clean up after it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from knit_provider.catalog import purge as catalog_purge
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.core.errors import NotFound
from knit_provider.core.purged import gone
from knit_provider.core.timefmt import now_ms
from knit_provider.service.context import Knit

LEASE_S = 120.0
log = logging.getLogger(__name__)


def check_readable(knit: Knit, knit_id: str) -> None:
    """``NotFound`` for an unknown Data, ``Gone`` for a purged one: before a download's response starts."""
    with read_tx(knit.engine) as conn:
        purged = catalog_purge.is_purged(conn, knit_id)
    if purged is None:
        raise NotFound(f"data not found: {knit_id}")
    if purged:
        raise gone(knit_id)


def _renew(knit: Knit, read_id: str, stop: threading.Event, lease_s: float) -> None:
    while not stop.wait(lease_s / 4):
        try:
            with write_tx(knit.engine) as conn:
                catalog_purge.renew_read(conn, read_id, now_ms() + int(lease_s * 1000))
        except Exception:  # the catalog briefly unreachable: the next renewal may succeed
            log.warning("could not renew the read lease %s", read_id, exc_info=True)


@contextmanager
def reading(knit: Knit, knit_id: str, *, lease_s: float = LEASE_S) -> Iterator[None]:
    """Hold a read lease on ``knit_id`` while the block reads its bytes; ``Gone`` if it was purged."""
    with write_tx(knit.engine) as conn:
        read_id = catalog_purge.start_read(conn, knit_id, now_ms(), int(lease_s * 1000))
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(knit, read_id, stop, lease_s), name="knit-read-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        try:
            with write_tx(knit.engine) as conn:
                catalog_purge.end_read(conn, read_id, now_ms())
        except Exception:  # the lease expires by itself
            log.warning("could not end the read lease %s", read_id, exc_info=True)
