"""``KnitHook``: the catalog and Data store as Airflow sees them (a ``knit`` connection, else ``[knit]`` config)."""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk import BaseHook

from knit_provider.service.context import Knit
from knit_provider.service.settings import KnitSettings


def _airflow_conf():
    try:
        from airflow.sdk import conf
    except ImportError:  # Airflow 3.1
        from airflow.configuration import conf
    return conf


class KnitHook(BaseHook):
    """Resolves the Knit settings once: connection extras win, then ``[knit]`` config, then ``KNIT_*`` env.

    The connection is optional; a missing ``knit_default`` simply means "use the config".
    """

    conn_name_attr = "knit_conn_id"
    default_conn_name = "knit_default"
    conn_type = "knit"
    hook_name = "Knit"

    def __init__(self, knit_conn_id: str | None = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.knit_conn_id = knit_conn_id
        self._settings: KnitSettings | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port", "login", "password"],
            "relabeling": {"host": "Catalog URL"},
            "placeholders": {
                "host": "sqlite:////home/me/.knit/catalog.db or postgresql+psycopg://user:pw@db/knit",
                "extra": json.dumps({"knit_home": "/home/me/.knit", "runner": "process", "image_map": ""}),
            },
        }

    def _extras(self) -> dict[str, Any]:
        if not self.knit_conn_id:
            return {}
        try:
            conn = self.get_connection(self.knit_conn_id)
        except Exception:  # not defined (the usual case), or no connection backend at parse time
            return {}
        extras = dict(conn.extra_dejson or {})
        if conn.host:
            extras.setdefault("catalog_url", conn.host)
        return extras

    @property
    def settings(self) -> KnitSettings:
        if self._settings is None:
            extras = self._extras()
            conf = _airflow_conf()

            def lookup(key: str) -> str | None:
                if extras.get(key) not in (None, ""):
                    return str(extras[key])
                return conf.get("knit", key, fallback=None)

            self._settings = KnitSettings.resolve(lookup)
        return self._settings

    def get_conn(self) -> Knit:
        return self.settings.open_knit()

    def test_connection(self) -> tuple[bool, str]:
        try:
            with self.get_conn() as knit:
                knit.engine.connect().close()
        except Exception as exc:
            return False, str(exc)
        return True, "Knit catalog reachable"
