"""Errors every layer raises and every adapter (CLI, REST, operators) maps to its own output.

Each error carries a message that names what is wrong and where; adapters print it as is. A message quotes user
input through ``shown``, which bounds it: an error never echoes a whole document back (a 600-byte YAML alias bomb
once made a 140 MB error message), and ``KnitError`` caps whatever slips through.
"""

from __future__ import annotations

import reprlib

#: the longest message an adapter ever prints (a safety net: messages quote input through ``shown``)
MAX_MESSAGE = 2000
#: the longest quotation of user input in a message
MAX_SHOWN = 160

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = 120
_SHOWN.maxother = 120
_SHOWN.maxlong = 60
_SHOWN.maxlevel = 3
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxset = _SHOWN.maxdict = 6


def shown(value: object) -> str:
    """``repr(value)`` for an error message, cut to a readable size (long strings keep their two ends)."""
    text = _SHOWN.repr(value)
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[: MAX_SHOWN - 40]}...{text[-30:]}"


class KnitError(Exception):
    """Base of all errors a user can cause; adapters show ``str(err)`` without a traceback."""

    http_status = 400

    def __str__(self) -> str:
        text = super().__str__()
        if len(text) <= MAX_MESSAGE:
            return text
        return f"{text[:MAX_MESSAGE]}... ({len(text) - MAX_MESSAGE} more characters)"


class InvalidInput(KnitError):
    """Bad input: a tag, a plan field, a path, a flag value."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class UsageError(InvalidInput):
    """A command used wrongly (a flag missing its partner, a value outside a flag's choices): exit 2 in the CLI.

    The REST API answers it as a 400 whose ``type`` is ``UsageError``, so a remote ``knit`` exits 2 too.
    """


class CatalogUnavailable(KnitError):
    """The catalog (or the knit home) cannot be used: missing, corrupt, read-only, unreachable."""

    http_status = 503


class StoreUnavailable(KnitError):
    """The Data store cannot be used: unreachable, credentials refused, or content that fails its checksum."""

    http_status = 503


class StoreFull(StoreUnavailable):
    """The Data store has no space left (or the quota is reached): nothing was stored, free space and try again."""

    http_status = 507


class CatalogMissing(CatalogUnavailable):
    """No catalog exists where one was named, and creating one was not asked for (a mistyped path)."""

    def __init__(self, where: str, hint: str = "") -> None:
        super().__init__(f"no Knit catalog at {where}" + (f" {hint}" if hint else ""))
        self.where = where

    def with_hint(self, hint: str) -> CatalogMissing:
        """The same error with how to fix it, in the caller's words."""
        return CatalogMissing(self.where, hint)


class TooLarge(InvalidInput):
    """An upload beyond the configured limit (``[knit] max_upload_bytes``)."""

    http_status = 413


class NotFound(KnitError):
    """The named Data, Plan or Run does not exist."""

    http_status = 404


class Gone(KnitError):
    """The Data exists but its content does not any more (``knit data purge``)."""

    http_status = 410


class Conflict(KnitError):
    """The request contradicts the catalog: an equivalent plan, a cycle, a live downstream Run."""

    http_status = 409


class IllegalTransition(Conflict):
    """A Run status change the lifecycle table does not allow."""
