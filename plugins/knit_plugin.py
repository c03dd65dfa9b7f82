"""Registers Knit's Airflow plugin from a plugins folder, for an Airflow that does not load plugin entry points.

The installed provider registers ``KnitPlugin`` through its ``airflow.plugins`` entry point; exporting it here as
well would make Airflow report a duplicate ("Plugin 'knit' already registered") as an import error.
"""

from importlib.metadata import entry_points

if not entry_points(group="airflow.plugins", name="knit"):
    from knit_provider.api.plugin import KnitPlugin

    __all__ = ["KnitPlugin"]
