"""Handing Knit Run status changes to Airflow's listener manager (pluggy), with Knit's hook spec added to it."""

from __future__ import annotations

import logging

from knit_provider.listeners import spec
from knit_provider.service.lifecycle_hooks import RunEvent
from knit_provider.version_compat import get_listener_manager

log = logging.getLogger(__name__)
HOOK = "knit_run_state_changed"


def listener_manager():
    """The listener manager of this process: the Task SDK's in a task (where Knit hands changes over), Airflow
    core's elsewhere; both load the listeners of the installed plugins."""
    manager = get_listener_manager()
    caller = getattr(manager.hook, HOOK, None)
    if caller is None or not caller.has_spec():
        manager.add_hookspecs(spec)
    return manager


def publish(event: RunEvent) -> None:
    """``knit_run_state_changed`` for every listener implementing it (a no-op without listeners)."""
    manager = listener_manager()
    if not manager.has_listeners:
        return
    getattr(manager.hook, HOOK)(
        run_id=event.run_id, previous_status=event.from_status, status=event.to_status, run=event.run
    )
