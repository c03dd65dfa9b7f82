"""``KnitPlugin``: the Knit app under ``/knit`` and a link from every DagRun to the Knit Run it carries."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from knit_provider.api.app import create_app


class KnitPlugin(AirflowPlugin):
    name = "knit"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/knit", "name": "Knit"}]
    external_views = [
        {
            "name": "Knit Run",
            "href": "/knit/api/runs/{RUN_ID}",
            "destination": "dag_run",
            "url_route": None,
        }
    ]
