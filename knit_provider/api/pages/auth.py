"""What the pages add to Airflow's authentication: a login redirect for browsers, and an origin check on writes.

Airflow's UI authenticates a browser with the ``_token`` cookie (a JWT, ``SameSite=Lax``, path ``/``) that its login
sets for the whole api-server, so a logged-in browser reaches ``/knit`` pages with no extra step; ``get_user``
(``api.auth.AUTHENTICATED``, on the router after :func:`login_redirect`) accepts it, or a bearer token.

- Reading: a browser navigating to a page without a valid session is sent to Airflow's login page (whichever auth
  manager is configured: ``/api/v2/auth/login?next=...``) and comes back after logging in. Anything else without
  credentials (API clients, scripts, POSTs) keeps Airflow's plain 401.
- Writing (tag edit, plan active toggle) is a POST form. Cross-site forgery is stopped by the browser: the session
  cookie is ``SameSite=Lax``, so a POST started by another site carries no session and gets 401. A same-*site* but
  different *origin* page (another port or subdomain of the host) would still carry it, so :func:`same_origin`
  also requires the POST's ``Origin`` (or ``Referer``) to be this host. GET routes never change anything.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from airflow.api_fastapi.core_api.security import get_user
from airflow.configuration import conf
from fastapi import HTTPException, Request, status

from knit_provider.api.pages.render import Links


def _wants_html(request: Request) -> bool:
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


async def login_redirect(request: Request) -> None:
    """Send a browser without a valid session to Airflow's login page; leave every other request to ``get_user``."""
    if "authorization" in request.headers or not _wants_html(request):
        return
    try:
        await get_user(request, None, None)
    except HTTPException as err:
        if err.status_code not in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN):
            raise
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(
            status_code=status.HTTP_303_SEE_OTHER,
            detail="log in first",
            headers={"Location": Links.of(request).airflow_login(here)},
        ) from None


def _host_of(url: str | None) -> str | None:
    if not url or url == "null":
        return None
    return urlsplit(url).netloc.lower() or None


def _own_hosts(request: Request) -> set[str]:
    """The host the request came to, and the one ``[api] base_url`` names (a proxy may rewrite ``Host``)."""
    hosts = {(request.headers.get("host") or "").lower()}
    base = _host_of(conf.get("api", "base_url", fallback=""))
    return hosts | ({base} if base else set())


def same_origin(request: Request) -> None:
    """Refuse a cookie-authenticated POST that another origin started (see the module text)."""
    if "authorization" in request.headers:
        return  # a bearer token is never sent by a browser on its own: no forgery possible
    sender = _host_of(request.headers.get("origin")) or _host_of(request.headers.get("referer"))
    own = _own_hosts(request)
    if sender is None or sender not in own:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"form posted from {sender or 'an unknown origin (no Origin or Referer)'}, not from "
            f"{' or '.join(sorted(h for h in own if h))}",
        )


MAX_FORM_BYTES = 1 << 20


async def form_fields(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (what the pages' forms post), without python-multipart."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(status_code=415, detail=f"expected a urlencoded form, got {kind or 'no content type'}")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(status_code=413, detail=f"form larger than {MAX_FORM_BYTES} bytes")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise HTTPException(status_code=400, detail="form is not UTF-8") from None
