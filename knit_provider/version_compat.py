"""Airflow version gates, in one place: every piece of code that differs between the Airflow versions Knit supports
(3.1+) asks here, never another provider's private ``version_compat`` nor a ``try: import`` of its own.

As Airflow's providers do, we keep our own gates rather than depend on another provider's. The version is the
installed ``apache-airflow-core`` distribution's (what ``airflow.__version__`` reports), read without importing
Airflow: Airflow itself calls ``get_provider_info`` while it initializes, and that asks ``PROVIDER_DB_MANAGERS``.
The pre-release and local parts are ignored, so ``3.2.0rc1`` counts as 3.2.
"""

from __future__ import annotations

from importlib.metadata import version as distribution_version
from typing import Any

from packaging.version import Version


def airflow_version() -> tuple[int, int, int]:
    """The installed Airflow's ``(major, minor, micro)``."""
    version = Version(distribution_version("apache-airflow-core"))
    return version.major, version.minor, version.micro


AIRFLOW_V_3_2_PLUS = airflow_version() >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS = airflow_version() >= (3, 3, 0)
#: Providers declare their DB managers in their provider info (``db-managers``) from 3.2 on; 3.1 runs only the
#: ones ``[database] external_db_managers`` names.
PROVIDER_DB_MANAGERS = AIRFLOW_V_3_2_PLUS
#: A task can give the DagRun it triggers a note (the Task SDK's ``TriggerDagRun.note``) from 3.2 on; on 3.1 the
#: DagRuns a task or the generator starts have none (the REST API's, started by the CLI or the api-server, do).
TRIGGER_DAG_RUN_NOTE = AIRFLOW_V_3_2_PLUS


def airflow_conf() -> Any:
    """Airflow's configuration as task code should read it: the Task SDK's ``conf`` (3.2+), Airflow's own before."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.sdk import conf
    else:
        from airflow.configuration import conf
    return conf


def get_listener_manager() -> Any:
    """The listener manager of this process: the Task SDK's (3.2+; in a task it is the one that calls plugins'
    listeners), Airflow core's before."""
    if AIRFLOW_V_3_2_PLUS:
        from airflow.sdk.listener import get_listener_manager as getter
    else:
        from airflow.listeners.listener import get_listener_manager as getter
    return getter()


def asset_trigger_event_type() -> Any:
    """Airflow's TriggerEvent carrying an asset partition key, where Airflow has one (none of 3.1-3.3 does: a
    watcher's events are then plain TriggerEvents, which Airflow may batch). Found by feature, not by version."""
    import airflow.triggers.base as triggers_base

    return getattr(triggers_base, "AssetTriggerEvent", None)


#: Task exceptions the Task SDK has from 3.2 on; Airflow 3.1 has them in ``airflow.exceptions`` only. Imported on
#: first use (module ``__getattr__``), as this module must not import Airflow while Airflow initializes.
_TASK_EXCEPTIONS = ("AirflowFailException", "AirflowSkipException")


def __getattr__(name: str) -> Any:
    if name in _TASK_EXCEPTIONS:
        if AIRFLOW_V_3_2_PLUS:
            import airflow.sdk.exceptions as exceptions
        else:
            import airflow.exceptions as exceptions
        return getattr(exceptions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [  # and, on first use, the _TASK_EXCEPTIONS
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "PROVIDER_DB_MANAGERS",
    "TRIGGER_DAG_RUN_NOTE",
    "airflow_conf",
    "airflow_version",
]
