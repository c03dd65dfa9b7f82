"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from knit_provider import __version__
from knit_provider.core.options import OPTIONS


def _config_section() -> dict:
    return {
        "description": "Knit: where the catalog and Data live, how Runs execute, how often the generator looks.",
        "options": {
            name: {
                "description": description,
                "version_added": "0.1.0",
                "type": _option_type(name),
                "example": None,
                "default": default,
            }
            for name, (default, description) in OPTIONS.items()
        },
    }


def _option_type(name: str) -> str:
    if name.endswith(("_interval", "_after")):
        return "float"
    return "integer" if name.endswith("_timeout") else "string"


#: ``airflow db migrate`` migrates Knit's catalog through it (``[database] external_db_managers`` on Airflow 3.1)
DB_MANAGER = "knit_provider.db_manager.KnitDBManager"


def get_provider_info() -> dict:
    from knit_provider.version_compat import PROVIDER_DB_MANAGERS

    info = {
        "package-name": "airflow-provider-knit",
        "name": "Knit",
        "description": "Knitfab's tag-driven workflows and lineage on Apache Airflow 3.",
        "versions": [__version__],
        "connection-types": [
            {"hook-class-name": "knit_provider.hooks.knit.KnitHook", "connection-type": "knit"},
        ],
        "hooks": [
            {"integration-name": "Knit", "python-modules": ["knit_provider.hooks.knit", "knit_provider.hooks.data"]}
        ],
        "operators": [
            {
                "integration-name": "Knit",
                "python-modules": [
                    "knit_provider.operators.run",
                    "knit_provider.operators.pod",
                    "knit_provider.operators.retention",
                    "knit_provider.operators.data",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Knit",
                "python-modules": ["knit_provider.sensors.catalog", "knit_provider.sensors.data"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Knit",
                "python-modules": [
                    "knit_provider.triggers.catalog",
                    "knit_provider.triggers.assets",
                    "knit_provider.triggers.data",
                ],
            }
        ],
        "extra-links": ["knit_provider.operators.links.KnitRunLink"],
        "plugins": [{"name": "knit", "plugin-class": "knit_provider.api.plugin.KnitPlugin"}],
        "config": {"knit": _config_section()},
    }
    if PROVIDER_DB_MANAGERS:
        info["db-managers"] = [DB_MANAGER]
    return info
