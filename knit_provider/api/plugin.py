"""``KnitPlugin``: the Knit app under ``/knit``, a "Knit" menu in Airflow's navigation, and a tab on every DAG
and DagRun page showing its Knit Plan / Run.

Airflow 3's UI draws ``external_views`` as follows (its ``ExternalViewResponse`` and the React nav):
``destination="nav"`` entries without a top-level category are grouped in the "Plugins" menu, in a sub-menu
named by ``category``; ``dag`` / ``dag_run`` entries become tabs on those pages, and only when they have a
``url_route``. Each opens ``href`` in an iframe at ``/plugin/<url_route>`` (same origin, scripts and forms
allowed), with ``{DAG_ID}`` and ``{RUN_ID}`` filled in. A DAG or DagRun Knit did not make shows a short
"not a Knit Plan / Run" page in its tab.

Every Airflow component loads plugins, but only the api-server serves them: elsewhere (scheduler, triggerer,
dag-processor, workers, the ``airflow`` CLI) the plugin registers nothing, so they never build the app (its routes,
templates and push-time starter). The UI takes ``href`` and ``icon`` as they are, so both start with the path
``[api] base_url`` names (``/airflow/knit/...`` when Airflow is served under ``/airflow/``).
"""

from __future__ import annotations

import sys

from airflow.plugins_manager import AirflowPlugin

from knit_provider.api.listeners import listener as asset_listener
from knit_provider.api.warmup import warmup
from knit_provider.core.airflow_names import KNIT_MOUNT
from knit_provider.hooks.knit import airflow_base_path

CATEGORY = "Knit"


def running_in_api_server(argv: list[str] = sys.argv) -> bool:
    """``airflow api-server`` (its uvicorn or gunicorn workers keep that argv), or the API's app served directly
    (``fastapi dev .../api_fastapi/main.py``), as Airflow's own edge3 provider tells its api-server apart."""
    return (len(argv) > 1 and argv[1] == "api-server") or any(a.endswith("api_fastapi/main.py") for a in argv[1:3])


def knit_views(base_path: str) -> list[dict]:
    """The menu entries and tabs, their links under Airflow's ``base_path``."""
    knit = base_path + KNIT_MOUNT
    icon = f"{knit}/static/knit.svg"

    def nav(name: str, page: str) -> dict:
        return {
            "name": name,
            "href": f"{knit}/{page}",
            "destination": "nav",
            "category": CATEGORY,
            "url_route": f"knit-{page}",
            "icon": icon,
        }

    return [
        nav("Data", "data"),
        nav("Plans", "plans"),
        nav("Runs", "runs"),
        nav("Lineage", "lineage"),
        {
            "name": "Knit Plan",
            "href": f"{knit}/plans/dag/{{DAG_ID}}",
            "destination": "dag",
            "url_route": "knit-plan",
            "icon": icon,
        },
        {
            "name": "Knit Run",
            "href": f"{knit}/runs/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "knit-run",
            "icon": icon,
        },
    ]


def knit_apps() -> list[dict]:
    from knit_provider.api.app import create_app

    return [{"app": create_app(), "url_prefix": KNIT_MOUNT, "name": "Knit"}]


class KnitPlugin(AirflowPlugin):
    name = "knit"
    #: in every component: confirms the KnitAsset events Airflow committed (where they are registered: the
    #: triggerer, the scheduler), and settles the ones a crash left in doubt (``api/listeners.py``); in the
    #: scheduler and the DAG processor, imports what Knit's task processes need before they are forked
    #: (``api/warmup.py``)
    listeners = [asset_listener, warmup]
    if running_in_api_server():
        fastapi_apps = knit_apps()
        external_views = knit_views(airflow_base_path())
