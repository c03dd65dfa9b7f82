"""Registers Knit's Airflow plugin from a plugins folder (the installed provider also registers it through
its ``airflow.plugins`` entry point; Airflow keeps one of the two, by name)."""

from knit_provider.api.plugin import KnitPlugin

__all__ = ["KnitPlugin"]
