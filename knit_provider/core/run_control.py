"""Run control, beyond Knitfab: a Plan's ``timeout`` and ``retries``.

Both are mutable (like ``resources``) and not part of a Plan's identity. In plan YAML::

    timeout: 2h                       # a Go-style duration; a Run's attempt that runs longer fails "timed out"
    retries: {count: 2, delay: 30s}   # or just ``retries: 2``; a failed attempt is tried again, up to count times

A Plan that says nothing follows ``[knit] default_timeout`` / ``default_retries`` / ``default_retry_delay``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from knit_provider.core.errors import InvalidInput, shown
from knit_provider.core.timefmt import parse_duration

RETRY_KEYS = ("count", "delay")
#: How many automatic retries a Plan may ask for (a typo such as 1000 would hammer a cluster).
MAX_RETRIES = 100
#: The exit code of an attempt ended by its timeout (as coreutils' ``timeout`` reports it).
EXIT_TIMED_OUT = 124
DEFAULT_RETRY_DELAY_S = 30.0


def format_duration(seconds: float) -> str:
    """``7200`` -> ``2h``, ``90`` -> ``1m30s``, ``0.25`` -> ``250ms``: the plan YAML's own spelling."""
    millis = round(seconds * 1000)
    if millis % 1000:
        return f"{millis}ms"
    whole, parts = millis // 1000, []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts) or "0s"


def parse_timeout(value: object, *, field: str = "timeout") -> float:
    """A positive duration (``2h``, ``30m``, ``90s``) or a number of seconds; returns seconds."""
    if isinstance(value, bool):
        raise InvalidInput(f"must be a duration such as 2h or 30m, got {shown(value)}", field=field)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = parse_duration(value, field=field) / 1000
    else:
        raise InvalidInput(f"must be a duration such as 2h or 30m, got {shown(value)}", field=field)
    if seconds <= 0:
        raise InvalidInput(f"must be longer than nothing, got {shown(value)}", field=field)
    return seconds


def parse_retry_count(value: object, *, field: str = "retries.count") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise InvalidInput(f"must be a whole number from 0 to {MAX_RETRIES}, got {shown(value)}", field=field)
    return value


def parse_retry_delay(value: object, *, field: str = "retries.delay") -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    if value in ("0", "0s"):
        return 0.0
    return parse_timeout(value, field=field)


@dataclass(frozen=True)
class RunControl:
    """A Plan's timeout and retries; None = the Plan says nothing (the ``[knit]`` defaults apply)."""

    timeout_s: float | None = None
    retries: int | None = None
    retry_delay_s: float | None = None

    @classmethod
    def parse(cls, timeout: object = None, retries: object = None) -> RunControl:
        """From plan YAML's ``timeout`` and ``retries`` values (each may be absent: None)."""
        control = cls(timeout_s=parse_timeout(timeout) if timeout is not None else None)
        if retries is None:
            return control
        if isinstance(retries, dict):
            unknown = sorted(set(retries) - set(RETRY_KEYS))
            if unknown:
                raise InvalidInput(f"unknown key {shown(unknown[0])} (count, delay)", field="retries")
            if "count" not in retries:
                raise InvalidInput("needs a count, e.g. {count: 2, delay: 30s}", field="retries")
            delay = retries.get("delay")
            return replace(
                control,
                retries=parse_retry_count(retries["count"]),
                retry_delay_s=parse_retry_delay(delay) if delay is not None else None,
            )
        return replace(control, retries=parse_retry_count(retries, field="retries"))

    def with_defaults(self, defaults: RunControl) -> RunControl:
        """What applies to a Run: the Plan's own values, else the defaults."""
        return RunControl(
            timeout_s=self.timeout_s if self.timeout_s is not None else defaults.timeout_s,
            retries=self.retries if self.retries is not None else defaults.retries,
            retry_delay_s=self.retry_delay_s if self.retry_delay_s is not None else defaults.retry_delay_s,
        )

    @property
    def retry_count(self) -> int:
        return self.retries or 0

    @property
    def retry_delay(self) -> float:
        return self.retry_delay_s if self.retry_delay_s is not None else DEFAULT_RETRY_DELAY_S

    def to_dict(self) -> dict[str, Any]:
        """The plan YAML / JSON keys this control sets (none when the Plan says nothing)."""
        out: dict[str, Any] = {}
        if self.timeout_s is not None:
            out["timeout"] = format_duration(self.timeout_s)
        if self.retries is not None:
            out["retries"] = {"count": self.retries}
            if self.retry_delay_s is not None:
                out["retries"]["delay"] = format_duration(self.retry_delay_s)
        return out


def timed_out_message(timeout_s: float) -> str:
    return f"timed out after {format_duration(timeout_s)}"
