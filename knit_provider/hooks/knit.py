"""``KnitHook``: the catalog and Data store as Airflow sees them (a ``knit`` connection, else ``[knit]`` config)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from knit_provider.core.airflow_names import web_path
from knit_provider.core.errors import InvalidInput
from knit_provider.core.store_urls import EXTRA_OF, is_local
from knit_provider.service.context import Knit
from knit_provider.service.settings import KnitSettings
from knit_provider.version_compat import airflow_conf


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
    def resolved(cls, knit_conn_id: str | None, settings: KnitSettings | None) -> KnitHook:
        """A hook with the settings already read in this process from the same connection (None: read them
        when first used)."""
        hook = cls(knit_conn_id)
        hook._settings = settings
        return hook

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
            conf = airflow_conf()

            def lookup(key: str) -> str | None:
                if extras.get(key) not in (None, ""):
                    return str(extras[key])
                return conf.get("knit", key, fallback=None)

            self._settings = KnitSettings.resolve(lookup)
        return self._settings

    def get_conn(self) -> Knit:
        return self.settings.open_knit(filesystem=self.data_store_filesystem)  # made when the store is first used

    def data_store_filesystem(self) -> Any:
        """The object store's fsspec filesystem through Airflow's ``ObjectStoragePath``, holding the credentials of
        ``[knit] data_store_conn_id``; None for a local store, or for an object store without a connection when
        no Airflow provider handles its scheme (fsspec then finds credentials itself: ``AWS_*``, pod identity)."""
        settings = self.settings
        url, conn_id = settings.store.url, settings.data_store_conn_id or None
        if is_local(url):
            return None
        from airflow.sdk import ObjectStoragePath
        from airflow.sdk.io import has_fs

        scheme = urlsplit(url).scheme
        if not has_fs(scheme):
            if conn_id:
                raise InvalidInput(
                    f"[knit] data_store_conn_id: no installed Airflow provider serves {scheme}:// connections "
                    f"(pip install 'airflow-provider-knit[{EXTRA_OF.get(scheme, scheme)}]')",
                    field="data_store_conn_id",
                )
            return None
        if conn_id is None and settings.store.options:
            return None  # plain fsspec with the options (an endpoint, a region) and the default credentials
        return ObjectStoragePath(url, conn_id=conn_id).fs

    def test_connection(self) -> tuple[bool, str]:
        try:
            with self.get_conn() as knit:
                knit.engine.connect().close()
        except Exception as exc:
            return False, str(exc)
        return True, "Knit catalog reachable"


def airflow_base_path() -> str:
    """The path Airflow is served under (``[api] base_url``, e.g. ``/airflow``; ``""`` at the root): the links
    Knit writes into Airflow (extra links, DagRun notes, the plugin's views) start with it."""
    return web_path(airflow_base_url())


def airflow_base_url() -> str:
    """``[api] base_url`` without its trailing ``/`` (``""`` when unset): the start of the absolute links Knit
    leaves where Airflow's UI is not around them (asset event extras, upload origins)."""
    return (airflow_conf().get("api", "base_url", fallback="") or "").rstrip("/")


def data_page_url_maker() -> Callable[[str], str]:
    """Links from an asset event back to the Data's page in the Knit UI (``[api] base_url`` + ``/knit/data/ID``),
    with the configuration read once."""
    base = airflow_base_url()
    return lambda knit_id: f"{base}/knit/data/{knit_id}"
