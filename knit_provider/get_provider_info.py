"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from knit_provider import __version__


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-provider-knit",
        "name": "Knit",
        "description": "Knitfab's tag-driven workflows and lineage on Apache Airflow 3.",
        "versions": [__version__],
    }
