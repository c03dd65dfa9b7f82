"""One error shape for the Knit REST API: ``{"message", "field", "type"}`` with the error's HTTP status.

``message`` is ``str(err)``, the very line the ``knit`` CLI prints after ``knit:``; ``type`` names the
``KnitError`` subclass so a client can raise the same one (``knit_provider.remote``). Airflow's own 401/403 and
FastAPI's request validation errors get the same shape, so a client reads every failure one way.

Routes opt in through ``KnitRoute`` (``APIRouter(route_class=KnitRoute)``), which wraps each endpoint, its
dependencies included, so no app-level handler is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from knit_provider.api.auth import authenticate
from knit_provider.core.errors import KnitError, shown


class ErrorBody(BaseModel):
    """What every failing Knit route answers."""

    message: str
    field: str | None = None
    type: str


def knit_error_response(err: KnitError) -> JSONResponse:
    body = {"message": str(err), "field": getattr(err, "field", None), "type": type(err).__name__}
    return JSONResponse(body, status_code=err.http_status)


def http_error_response(err: HTTPException) -> JSONResponse:
    """Airflow's ``Not authenticated`` / ``Forbidden`` (and any other HTTPException), headers kept."""
    body = {"message": str(err.detail), "field": None, "type": "HTTPException"}
    return JSONResponse(body, status_code=err.status_code, headers=getattr(err, "headers", None))


def validation_error_response(err: RequestValidationError) -> JSONResponse:
    """A malformed request (bad query value, body not matching its schema): 422, first problem as the message."""
    problems = [_bounded(problem) for problem in err.errors()[:MAX_PROBLEMS]]
    first = problems[0] if problems else {}
    where = [str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path", "header")]
    field = ".".join(where) or None
    message = f"{field}: {first.get('msg', 'invalid request')}" if field else first.get("msg", "invalid request")
    body = {"message": message, "field": field, "type": "InvalidInput", "detail": problems}
    return JSONResponse(body, status_code=422)


#: a malformed request's problems listed in the reply (each quoting the offending input cut short)
MAX_PROBLEMS = 10


def _bounded(problem: dict[str, Any]) -> dict[str, Any]:
    """A validation problem for the reply: the offending input is quoted cut short, never echoed whole."""
    bounded = {key: value for key, value in problem.items() if key != "input"}
    if "input" in problem:
        bounded["input"] = shown(problem["input"])
    return jsonable_encoder(bounded)


class KnitRoute(APIRoute):
    """A route whose errors (its own and its dependencies') leave as ``ErrorBody`` JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except KnitError as err:
                return knit_error_response(err)
            except RequestValidationError as err:
                try:
                    await authenticate(request)  # a malformed body is nobody's business but an authenticated user's
                except HTTPException as denied:
                    return http_error_response(denied)
                return validation_error_response(err)
            except HTTPException as err:
                return http_error_response(err)

        return handle


#: Error responses every Knit route may give, for the OpenAPI page.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad input: a tag, a field, a flag value, an unsafe upload"},
    401: {"model": ErrorBody, "description": "Not authenticated (no or bad JWT bearer / session cookie)"},
    403: {"model": ErrorBody, "description": "Airflow's auth manager denies this user the access"},
    404: {"model": ErrorBody, "description": "No such Data, Plan or Run"},
    409: {"model": ErrorBody, "description": "Conflicts with the catalog (equivalent plan, cycle, live downstream)"},
    410: {"model": ErrorBody, "description": "The Data's content was purged (knit data purge)"},
    413: {"model": ErrorBody, "description": "An upload beyond [knit] max_upload_bytes once unpacked"},
    422: {"model": ErrorBody, "description": "The request does not match the route's parameters"},
    507: {"model": ErrorBody, "description": "The Data store is full: nothing was stored"},
}
