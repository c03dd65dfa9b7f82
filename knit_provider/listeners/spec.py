"""The hook spec a deployment's listener implements to react to Knit Run status changes in its own code.

Register a listener as for any Airflow event (an ``AirflowPlugin`` with ``listeners = [my_module]``), with::

    from airflow.listeners import hookimpl

    @hookimpl
    def knit_run_state_changed(run_id, previous_status, status, run):
        ...  # run: the Run as `knit run show` prints it, just after the change

It is called in the worker that hands the change over (a Run's task when it ends, or the generator's task), at
least once per change and in order per Run, never in the middle of the catalog's transaction: see
``service.lifecycle_hooks``. A listener that raises is logged and does not affect the Run.
"""

from __future__ import annotations

from typing import Any

from pluggy import HookspecMarker

hookspec = HookspecMarker("airflow")


@hookspec
def knit_run_state_changed(run_id: str, previous_status: str, status: str, run: dict[str, Any]) -> None:
    """A Knit Run went from ``previous_status`` to ``status``; ``run`` is its JSON just after the change."""
