"""Airflow's authentication for every Knit route: the same dependency Airflow's own REST API uses.

Routers include ``AUTHENTICATED`` so no route can be added without it: an anonymous request gets 401.
"""

from __future__ import annotations

from airflow.api_fastapi.core_api.security import GetUserDep, get_user
from fastapi import Depends

#: Router-level dependency list: a JWT bearer token or the UI's session cookie.
AUTHENTICATED = [Depends(get_user)]

__all__ = ["AUTHENTICATED", "GetUserDep"]
