"""``Knit``: the catalog engine and the Data store that every service function works on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from knit_provider.catalog.engine import catalog_url, knit_home, make_engine
from knit_provider.catalog.schema import upgrade
from knit_provider.storage import LocalStore


@dataclass
class Knit:
    engine: Engine
    store: LocalStore
    home: Path

    @classmethod
    def open(cls, url: str | None = None, home: Path | str | None = None, *, migrate: bool = True) -> Knit:
        """Open the catalog (``KNIT_CATALOG_URL`` or the knit home's SQLite file) and the Data store."""
        home_path = Path(home).expanduser() if home is not None else knit_home()
        if url is None and home is not None:
            url = f"sqlite:///{home_path / 'catalog.db'}"
        engine = make_engine(url or catalog_url())
        if migrate:
            upgrade(engine)
        return cls(engine=engine, store=LocalStore(home_path / "data"), home=home_path)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Knit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
