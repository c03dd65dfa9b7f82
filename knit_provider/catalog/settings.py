"""Deployment-wide values held by the catalog (``knit_settings``), read by every component that opens it."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from knit_provider.catalog.models import settings_t

DATA_STORE = "data_store"


def get_setting(conn: Connection, key: str) -> str | None:
    return conn.execute(select(settings_t.c.value).where(settings_t.c.key == key)).scalar()


def set_setting(conn: Connection, key: str, value: str | None) -> None:
    conn.execute(delete(settings_t).where(settings_t.c.key == key))
    if value is not None:
        conn.execute(settings_t.insert().values(key=key, value=value))
