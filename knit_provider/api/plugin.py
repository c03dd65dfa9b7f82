"""``KnitPlugin``: the Knit app under ``/knit``, a "Knit" menu in Airflow's navigation, and a tab on every DAG
and DagRun page showing its Knit Plan / Run.

Airflow 3.3's UI draws ``external_views`` as follows (its ``ExternalViewResponse`` and the React nav):
``destination="nav"`` entries without a top-level category are grouped in the "Plugins" menu, in a sub-menu
named by ``category``; ``dag`` / ``dag_run`` entries become tabs on those pages, and only when they have a
``url_route``. Each opens ``href`` in an iframe at ``/plugin/<url_route>`` (same origin, scripts and forms
allowed), with ``{DAG_ID}`` and ``{RUN_ID}`` filled in. A DAG or DagRun Knit did not make shows a short
"not a Knit Plan / Run" page in its tab.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from knit_provider.api.app import create_app

PREFIX = "/knit"
ICON = f"{PREFIX}/static/knit.svg"
CATEGORY = "Knit"


def _nav(name: str, page: str) -> dict:
    return {
        "name": name,
        "href": f"{PREFIX}/{page}",
        "destination": "nav",
        "category": CATEGORY,
        "url_route": f"knit-{page}",
        "icon": ICON,
    }


class KnitPlugin(AirflowPlugin):
    name = "knit"
    fastapi_apps = [{"app": create_app(), "url_prefix": PREFIX, "name": "Knit"}]
    external_views = [
        _nav("Data", "data"),
        _nav("Plans", "plans"),
        _nav("Runs", "runs"),
        _nav("Lineage", "lineage"),
        {
            "name": "Knit Plan",
            "href": f"{PREFIX}/plans/dag/{{DAG_ID}}",
            "destination": "dag",
            "url_route": "knit-plan",
            "icon": ICON,
        },
        {
            "name": "Knit Run",
            "href": f"{PREFIX}/runs/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "knit-run",
            "icon": ICON,
        },
    ]
