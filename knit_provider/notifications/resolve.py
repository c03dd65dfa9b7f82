"""Building the Airflow notifiers a Plan's annotations (and ``[knit] on_failure_notifier``) name, for its DAG's
callbacks: ``slack://CONN_ID`` is the Slack provider's ``SlackNotifier`` (resolved when the provider is installed,
else a clear error naming it), any other target the import path of a ``BaseNotifier`` subclass (instantiated with
no arguments) or instance. The DAG processor runs DAG callbacks, so a notifier must be importable there.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from airflow.sdk import BaseNotifier

from knit_provider.core.errors import InvalidInput
from knit_provider.core.notify import EVENTS, SCHEMES, Target, missing_provider, notifications, parse_target

log = logging.getLogger(__name__)

#: What a provider's notifier says (rendered by Airflow with the callback's context).
MESSAGE = (
    "Knit Run {{ (dag_run.conf or {}).get('knit_run_id', dag_run.run_id) }} of {{ dag_run.dag_id }}: "
    "{{ dag_run.state }}{% if reason %} ({{ reason }}){% endif %}"
)


class NotifierUnavailable(InvalidInput):
    """A named notifier that cannot be built here (its provider or module missing, or not a notifier)."""


def notifier_for(target: Target) -> BaseNotifier:
    if target.scheme is not None:
        scheme = SCHEMES[target.scheme]
        try:
            module = importlib.import_module(scheme.module)
        except ImportError:
            raise NotifierUnavailable(missing_provider(target)) from None
        return getattr(module, scheme.name)(**{scheme.conn_arg: target.conn_id, scheme.text_arg: MESSAGE})
    module_name, _, name = target.text.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as err:
        raise NotifierUnavailable(f"notifier {target.text}: cannot be imported here ({err})") from None
    if isinstance(found, type) and issubclass(found, BaseNotifier):
        return found()
    if isinstance(found, BaseNotifier):
        return found
    raise NotifierUnavailable(f"notifier {target.text} is not a BaseNotifier (a subclass or an instance)")


@dataclass
class Callbacks:
    """A Plan DAG's callbacks by event, and why a named notifier could not be used (one line each)."""

    by_event: dict[str, list[BaseNotifier]] = field(default_factory=lambda: {e: [] for e in EVENTS})
    problems: list[str] = field(default_factory=list)

    def dag_kwargs(self) -> dict[str, list[BaseNotifier]]:
        return {f"{event}_callback": found for event, found in self.by_event.items() if found}


def plan_callbacks(annotations: Iterable[tuple[str, str]], *, on_failure: str = "") -> Callbacks:
    """The notifiers of one Plan (its ``knit.notify.*`` annotations, then ``[knit] on_failure_notifier``). A
    notifier that cannot be built is left out and its problem kept: one Plan's mistake never hides the others'
    DAGs."""
    callbacks = Callbacks()
    try:
        named = [(n.event, n.target) for n in notifications(annotations)]
    except InvalidInput as err:
        callbacks.problems.append(str(err))
        named = []
    if on_failure:
        named.append(("on_failure", parse_target(on_failure, field="[knit] on_failure_notifier")))
    for event, target in named:
        try:
            callbacks.by_event[event].append(notifier_for(target))
        except NotifierUnavailable as err:
            callbacks.problems.append(str(err))
    return callbacks
