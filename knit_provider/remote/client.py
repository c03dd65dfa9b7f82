"""``KnitClient``: the Knit REST API as the service layer's functions, for a ``knit`` that talks to a server.

``client.data``, ``client.plans``, ``client.runs`` and ``client.graphs`` mirror ``knit_provider.service.data``,
``.plans``, ``.runs`` and ``.graphs``: same function names and arguments (minus the ``knit`` catalog), the same
dicts back, and the same ``KnitError`` subclasses (rebuilt from the server's error JSON, same message) on failure.
Failures the catalog cannot cause (401, 403, 5xx, an unreachable server) are ``RemoteError``.

Authentication is Airflow's: a given JWT, or ``POST /auth/token`` with a username and password (again once when
the token has expired, for requests that can be sent twice).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from knit_provider.core.errors import (
    Conflict,
    Gone,
    IllegalTransition,
    InvalidInput,
    KnitError,
    NotFound,
    StoreFull,
    StoreUnavailable,
    TooLarge,
    UsageError,
)
from knit_provider.core.paging import Page
from knit_provider.remote.explain import ExplainAPI
from knit_provider.remote.previews import PreviewsAPI
from knit_provider.remote.resources import AdminAPI, DataAPI, GraphsAPI, PlansAPI, RunsAPI
from knit_provider.remote.retention import RetentionAPI

_BY_TYPE: dict[str, type[KnitError]] = {
    c.__name__: c
    for c in (
        KnitError,
        InvalidInput,
        UsageError,
        NotFound,
        Conflict,
        IllegalTransition,
        TooLarge,
        Gone,
        StoreUnavailable,
        StoreFull,
    )  # fmt: skip
}
_BY_STATUS: dict[int, type[KnitError]] = {
    400: InvalidInput,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: InvalidInput,
}


class RemoteError(KnitError):
    """A failure outside Knit's own errors: not authenticated (401), forbidden (403), server error, unreachable."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.http_status = status


def error_from(response: httpx.Response) -> KnitError:
    """The ``KnitError`` a failed reply stands for, with the server's message (the CLI's line) as its text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or body.get("detail") or response.text.strip() or response.reason_phrase
    if not isinstance(message, str):
        message = str(message)
    # only Knit's own error JSON carries a type: a bare 404 is a wrong URL or an Airflow without the plugin
    cls = _BY_TYPE.get(str(body.get("type"))) or (_BY_STATUS.get(response.status_code) if "type" in body else None)
    if cls is None:
        return RemoteError(message, response.status_code)
    err = cls(message)  # InvalidInput's message already carries its field: keep the text, set the attribute
    if body.get("field") is not None:
        err.field = body["field"]  # type: ignore[attr-defined]
    return err


class KnitClient:
    """One Airflow api-server's Knit API. ``url`` is Airflow's base URL (``http://host:8080``)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        prefix: str = "/knit",
        timeout: float = 60.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = http or httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, connect=10.0))
        self._api = prefix.rstrip("/") + "/api"
        self._token = token
        self._credentials = (username, password) if username is not None else None
        self.data = DataAPI(self)
        self.plans = PlansAPI(self)
        self.runs = RunsAPI(self)
        self.graphs = GraphsAPI(self)
        self.admin = AdminAPI(self)
        self.explain = ExplainAPI(self)
        self.previews = PreviewsAPI(self)
        self.retention = RetentionAPI(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KnitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- authentication ------------------------------------------------------------------------------------

    def login(self) -> str:
        """A fresh JWT from Airflow's ``POST /auth/token``."""
        if self._credentials is None:
            raise RemoteError("no token and no username/password to log in with", 401)
        username, password = self._credentials
        reply = self._transport(
            lambda: self._http.post("/auth/token", json={"username": username, "password": password})
        )
        if reply.is_error:
            raise RemoteError(f"login as {username!r} failed: {error_from(reply)}", reply.status_code)
        self._token = reply.json()["access_token"]
        return self._token

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        if self._token is None and self._credentials is not None:
            self.login()
        headers = {"Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers | dict(extra or {})

    # ---- requests ------------------------------------------------------------------------------------------

    def _transport(self, send):
        try:
            return send()
        except httpx.TransportError as err:
            raise RemoteError(f"cannot talk to {self.url}: {err}", 503) from err

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        replayable: bool = True,
    ) -> httpx.Response:
        """Send to ``/knit/api<path>``; a failure raises the error it stands for (a streamed reply is read first)."""
        clean = {k: v for k, v in (params or {}).items() if v is not None and v != []}

        def send() -> httpx.Response:
            request = self._http.build_request(
                method, self._api + path, params=clean, json=json, content=content, headers=self._headers(headers)
            )
            return self._transport(lambda: self._http.send(request, stream=stream))

        response = send()
        if response.status_code == 401 and replayable and self._credentials is not None:
            response.close()
            self.login()
            response = send()
        if response.is_error:
            if stream:
                response.read()
                response.close()
            raise error_from(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def stream(self, path: str, *, params: Mapping[str, Any] | None = None, text: bool = False) -> Iterator[Any]:
        """A streamed reply's bytes (or text); a transfer cut short raises ``RemoteError``."""
        accept = "text/plain" if text else "*/*"
        response = self.request("GET", path, params=params, stream=True, headers={"Accept": accept})
        try:
            yield from (response.iter_text() if text else response.iter_bytes())
        except httpx.TransportError as err:
            raise RemoteError(f"the transfer from {self.url} broke off: {err}", 503) from err
        finally:
            response.close()

    def page(self, path: str, *, params: Mapping[str, Any]) -> Page:
        """One page of a list route: its items, and the cursors of its neighbours from the reply's headers."""
        response = self.request("GET", path, params=params)
        return Page(
            response.json(), next=response.headers.get("X-Next-Cursor"), prev=response.headers.get("X-Prev-Cursor")
        )

    def stream_list(self, path: str, *, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """The items of a streamed JSON array, each as soon as it has arrived whole (``ijson``): a list of any
        length costs the memory of one item and one chunk. A transfer cut short raises ``RemoteError``."""
        import ijson

        response = self.request("GET", path, params=params, stream=True)
        items: list = ijson.sendable_list()
        parser = ijson.items_coro(items, "item", use_float=True)
        try:
            for chunk in response.iter_bytes():
                parser.send(chunk)
                yield from items
                del items[:]
            parser.close()
            yield from items
        except httpx.TransportError as err:
            raise RemoteError(f"the transfer from {self.url} broke off: {err}", 503) from err
        except ijson.JSONError as err:
            raise RemoteError(f"the list from {self.url} ended early or is not JSON: {err}", 502) from err
        finally:
            response.close()
