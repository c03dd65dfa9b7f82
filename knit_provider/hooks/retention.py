"""Where declared retention policies live on Airflow's side: the ``knit`` connection's ``retention`` extra (a YAML
text, or the list of policies itself). Without it, ``service.retention`` reads ``<knit home>/retention.yaml``."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from knit_provider.hooks.knit import KnitHook


def declared_retention(knit_conn_id: str | None = KnitHook.default_conn_name) -> Any:
    """The ``retention`` extra of the ``knit`` connection, or None (no connection, or no such extra)."""
    if not knit_conn_id:
        return None
    try:
        conn = BaseHook.get_connection(knit_conn_id)
    except Exception:  # not defined (the usual case), or no connection backend here
        return None
    return (conn.extra_dejson or {}).get("retention")
