"""Airflow notifiers named by a Plan's annotations (beyond Knitfab): ``knit.notify.<event>=<target>``.

A target is ``<scheme>://<connection id>`` for a notifier an Airflow provider ships (``slack://alerts`` is the Slack
provider's ``SlackNotifier`` on the connection ``alerts``), or the import path of any ``BaseNotifier`` subclass or
instance (``my_team.notifiers.PageOnCall``). The events are the DAG callbacks of the Plan's DAG: ``on_failure`` (a
Run failed) and ``on_success`` (a Run done). ``[knit] on_failure_notifier`` takes a target too, for every Plan.

Only the spelling is checked here (pure rules); ``notifications`` (an Airflow adapter) builds the notifiers.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from knit_provider.core.errors import InvalidInput, shown

PREFIX = "knit.notify."
EVENTS = ("on_failure", "on_success")
IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
CONN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,250}")


@dataclass(frozen=True)
class Scheme:
    """A provider's notifier, as a ``scheme://conn-id`` target names it."""

    distribution: str  # the pip package that brings it
    module: str
    name: str
    conn_arg: str
    text_arg: str


SCHEMES = {
    "slack": Scheme(
        "apache-airflow-providers-slack", "airflow.providers.slack.notifications.slack", "SlackNotifier",
        "slack_conn_id", "text",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    text: str
    scheme: str | None = None  # with conn_id; else an import path
    conn_id: str | None = None


@dataclass(frozen=True)
class Notification:
    event: str  # on_failure | on_success
    target: Target


def parse_target(text: object, *, field: str) -> Target:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"must name a notifier (slack://CONN_ID or an import path), got {shown(text)}", field=field)
    text = text.strip()
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme not in SCHEMES:
            raise InvalidInput(
                f"unknown notifier scheme {shown(scheme)} in {shown(text)} (known: {', '.join(SCHEMES)}; or an "
                "import path of a BaseNotifier)",
                field=field,
            )
        if not CONN_ID.fullmatch(rest):
            raise InvalidInput(f"{shown(text)}: {scheme}:// takes an Airflow connection id", field=field)
        return Target(text, scheme, rest)
    if not IMPORT_PATH.fullmatch(text):
        raise InvalidInput(
            f"{shown(text)} is neither scheme://CONN_ID nor an import path such as my_pkg.notifiers.Notify",
            field=field,
        )
    return Target(text)


def notifications(annotations: Iterable[tuple[str, str]], *, field: str = "annotations") -> list[Notification]:
    """The ``knit.notify.*`` annotations among ``(key, value)`` pairs; a misspelt event is an error."""
    found = []
    for key, value in annotations:
        if not key.startswith(PREFIX):
            continue
        event = key[len(PREFIX) :]
        if event not in EVENTS:
            close = difflib.get_close_matches(event, EVENTS, n=1)
            hint = f"did you mean {PREFIX}{close[0]}?" if close else f"known: {', '.join(PREFIX + e for e in EVENTS)}"
            raise InvalidInput(f"unknown notification {shown(key)} ({hint})", field=field)
        found.append(Notification(event, parse_target(value, field=f"{field} {key}")))
    return found


def missing_provider(target: Target) -> str:
    """The one line saying a ``scheme://`` target's provider is not installed."""
    scheme = SCHEMES[target.scheme or ""]
    return (
        f"notifier {target.text}: {target.scheme}:// needs the {target.scheme.capitalize()} provider "
        f"({scheme.distribution}), which is not installed"
    )
