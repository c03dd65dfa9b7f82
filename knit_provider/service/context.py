"""``Knit``: the catalog engine and the Data store that every service function works on, and who starts the Runs
its writes make waiting."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine

from knit_provider.catalog.engine import catalog_location, catalog_url, knit_home, read_tx, write_tx
from knit_provider.catalog.schema import open_catalog
from knit_provider.catalog.settings import DATA_STORE, get_setting
from knit_provider.core.errors import CatalogUnavailable
from knit_provider.storage.base import DataStore
from knit_provider.storage.spec import StoreSpec

log = logging.getLogger(__name__)

__all__ = ["Dispatcher", "Knit", "LeaveToGenerator", "StoreSpec", "catalog_location"]


class Dispatcher(Protocol):
    """Starts the Runs a write has just made waiting (push-time start), where the writer can reach Airflow.

    Each entry point plugs in the one it can use: the ``knit`` CLI Airflow's REST API, the api-server a background
    starter, a Run's task the Task SDK. Whatever a dispatcher does not start, the generator starts on its next pass:
    the catalog, not the dispatcher, records that a Run waits.
    """

    def runs_waiting(self, knit: Knit, run_ids: Sequence[str]) -> None: ...


class LeaveToGenerator:
    """The default dispatcher: starts nothing; the generator's next pass starts every waiting Run."""

    def runs_waiting(self, knit: Knit, run_ids: Sequence[str]) -> None:
        return None


def _recorded(engine: Engine, spec: StoreSpec) -> StoreSpec:
    """The store the catalog records (``knit admin migrate-store`` switched to it) wins over the configured one;
    the configured credentials and options go along when both are the same kind of store."""
    with read_tx(engine) as conn:
        recorded = get_setting(conn, DATA_STORE)
    if not recorded or recorded == spec.url:
        return spec
    if urlsplit(recorded).scheme != urlsplit(spec.url or "file:").scheme:
        spec = replace(spec, fs=None, options={})
    log.info("Data store: %s (recorded in the catalog by migrate-store; configured: %s)", recorded, spec.url or "-")
    return replace(spec, url=recorded)


@dataclass
class Knit:
    engine: Engine
    store: DataStore
    home: Path
    dispatcher: Dispatcher = field(default_factory=LeaveToGenerator)
    #: Who writes through this handle (the OS user of a local ``knit``, the Airflow user of a request), recorded on
    #: the Runs its writes create or change; set by each entry point like the dispatcher (``catalog.causes``).
    actor: str | None = None
    #: Set to a list by a Run's task that hands the KnitAsset events of its own outputs to Airflow as its outlet
    #: events: the Run's final write claims those deliveries into it (``service.assets.task_outlet_events``).
    outlet_claims: list[tuple[str, str]] | None = None

    @classmethod
    def open(
        cls,
        url: str | None = None,
        home: Path | str | None = None,
        *,
        migrate: bool = True,
        create: bool = True,
        store: StoreSpec | None = None,
    ) -> Knit:
        """Open the catalog (``KNIT_CATALOG_URL`` or the knit home's SQLite file) and the Data store (``store``,
        else the ``KNIT_DATA_STORE*`` variables, else ``<knit home>/data``).

        ``create=False`` refuses a catalog that does not exist yet (``CatalogMissing``) instead of creating an
        empty one: the ``knit`` CLI opens so (``knit init`` creates). A catalog or knit home that cannot be used
        (corrupt, read-only, unreachable) is one ``CatalogUnavailable`` line naming it.
        """
        home_path = Path(home).expanduser() if home is not None else knit_home()
        if url is None and home is not None:
            url = f"sqlite:///{home_path / 'catalog.db'}"
        engine = open_catalog(url or catalog_url(), migrate=migrate, create=create)
        try:
            data_store = _recorded(engine, store or StoreSpec.from_env()).open(home_path)
        except OSError as err:
            engine.dispose()
            raise CatalogUnavailable(f"knit home {home_path}: its Data store cannot be used: {err}") from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine=engine, store=data_store, home=home_path)

    def write(self) -> AbstractContextManager[Connection]:
        """A serialized write transaction on the catalog, on behalf of ``actor``."""
        return write_tx(self.engine, actor=self.actor)

    def runs_waiting(self, run_ids: Sequence[str]) -> None:
        """Called by every write once committed: hand the Runs it made waiting to the dispatcher.

        Never raises: the write is committed and its Runs recorded, so a failed start only delays them.
        """
        if not run_ids:
            return
        try:
            self.dispatcher.runs_waiting(self, list(run_ids))
        except Exception:
            log.exception("starting %d new Run(s) at once failed; the generator starts them", len(run_ids))

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Knit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
