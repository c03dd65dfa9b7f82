"""Errors every layer raises and every adapter (CLI, REST, operators) maps to its own output.

Each error carries a message that names what is wrong and where; adapters print it as is.
"""

from __future__ import annotations


class KnitError(Exception):
    """Base of all errors a user can cause; adapters show ``str(err)`` without a traceback."""

    http_status = 400


class InvalidInput(KnitError):
    """Bad input: a tag, a plan field, a path, a flag value."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class NotFound(KnitError):
    """The named Data, Plan or Run does not exist."""

    http_status = 404


class Conflict(KnitError):
    """The request contradicts the catalog: an equivalent plan, a cycle, a live downstream Run."""

    http_status = 409


class IllegalTransition(Conflict):
    """A Run status change the lifecycle table does not allow."""
