"""Airflow's authentication for every Knit route: the same dependency Airflow's own REST API uses.

Routers include ``AUTHENTICATED`` so no route can be added without it: an anonymous request gets 401.
"""

from __future__ import annotations

from airflow.api_fastapi.core_api.security import GetUserDep, get_user
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials

#: Router-level dependency list: a JWT bearer token or the UI's session cookie.
AUTHENTICATED = [Depends(get_user)]


async def authenticate(request: Request) -> None:
    """Airflow's authentication of ``request`` outside the dependency system: ``HTTPException`` 401 if it fails.

    For a malformed body: the FastAPI that Airflow 3.1 ships parses a JSON body before the route's dependencies,
    so an anonymous PUT with a broken body would learn 422 where every other anonymous request gets 401.
    """
    if get_user in getattr(request.app, "dependency_overrides", {}):
        return  # the app replaced Airflow's authentication (route tests): the replacement has run as a dependency
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip()) if token.strip() else None
    await get_user(request, None, bearer)


__all__ = ["AUTHENTICATED", "GetUserDep", "authenticate"]
