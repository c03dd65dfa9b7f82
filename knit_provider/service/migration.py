"""``knit admin migrate-store --to URL``: every Data of a deployment copied to another Data store, then the switch.

Each Data is copied as an import of its own (objects, then the manifest or the rename), checked against the
checksum the catalog recorded for it, so a copy either exists complete and verified in the new store or not at
all: a migration killed half way loses nothing (the old store is never changed) and, run again, copies only what
is missing (a copy whose checksum disagrees is made again). Once every Data is there, the catalog records the new
store (``knit_settings``), which every component opening the catalog uses from then on, whatever its own
configuration says; then what was committed to the old store meanwhile is copied too. Processes that opened the old
store earlier (an api-server, Runs in flight) keep writing there until they restart or end: running the command
again afterwards copies what they wrote.
"""

from __future__ import annotations

from collections.abc import Callable

from knit_provider.catalog.data import committed_checksums
from knit_provider.catalog.engine import read_tx, write_tx
from knit_provider.catalog.settings import DATA_STORE, set_setting
from knit_provider.core.errors import InvalidInput, StoreUnavailable
from knit_provider.service.context import Knit
from knit_provider.storage.base import DataStore

Report = Callable[[str], None]


def _committed(knit: Knit) -> dict[str, str]:
    """knit id -> recorded checksum of every Data with content (committed, not purged)."""
    with read_tx(knit.engine) as conn:
        return committed_checksums(conn)


def _copy_missing(knit: Knit, target: DataStore, wanted: dict[str, str], report: Report) -> tuple[int, int]:
    """Copy each wanted Data the target lacks (or holds with another checksum); (copied, already there)."""
    copied = present = 0
    for index, (knit_id, checksum) in enumerate(sorted(wanted.items()), start=1):
        if target.exists(knit_id):
            if target.measure(knit_id).checksum == checksum:
                present += 1
                continue
            target.delete(knit_id)  # a copy that does not match: made again
        if not knit.store.exists(knit_id):
            raise StoreUnavailable(f"Data {knit_id} is missing from {knit.store.url}; nothing was switched")
        info = target.import_tree(knit.store.open_tree(knit_id), knit_id)
        if info.checksum != checksum:
            target.delete(knit_id)
            raise StoreUnavailable(
                f"Data {knit_id}: its copy's checksum {info.checksum} differs from the catalog's {checksum}; "
                "nothing was switched"
            )
        copied += 1
        report(f"[{index}/{len(wanted)}] copied {knit_id} ({info.size} bytes)")
    return copied, present


def migrate_store(knit: Knit, target: DataStore, *, report: Report = lambda _line: None) -> dict:
    """Copy, verify, switch, catch up (see the module docstring); a summary as JSON."""
    if target.url == knit.store.url:
        raise InvalidInput(f"the Data are in {target.url} already", field="to")
    wanted = _committed(knit)
    copied, present = _copy_missing(knit, target, wanted, report)
    with write_tx(knit.engine) as conn:
        set_setting(conn, DATA_STORE, target.url)
    report(f"switched: the catalog's Data store is {target.url}")
    late = {k: v for k, v in _committed(knit).items() if k not in wanted}
    caught_up, _ = _copy_missing(knit, target, late, report)
    return {
        "from": knit.store.url,
        "to": target.url,
        "data": len(wanted) + len(late),
        "copied": copied + caught_up,
        "alreadyThere": present,
        "switched": True,
    }
