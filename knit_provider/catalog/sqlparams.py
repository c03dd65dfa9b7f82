"""List parameters that keep one SQL text per statement.

An expanding ``IN (...)`` renders a new SQL text for every list length, so PostgreSQL can neither
reuse a prepared statement nor its plan; ``= ANY(:array)`` keeps one text. SQLite has no arrays and
gains nothing from it, so it keeps the expanding ``IN``.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, Connection, Executable, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def member_of(column: ColumnElement, name: str, *, postgresql: bool) -> ColumnElement[bool]:
    """``column`` is one of the values of the list parameter ``name``."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


class PerDialect:
    """A statement built once per dialect family by ``build(postgresql: bool)``."""

    def __init__(self, build: Callable[[bool], Executable]) -> None:
        self._build = build
        self._built: dict[bool, Executable] = {}

    def __call__(self, conn: Connection) -> Executable:
        postgresql = conn.dialect.name == "postgresql"
        if postgresql not in self._built:
            self._built[postgresql] = self._build(postgresql)
        return self._built[postgresql]
