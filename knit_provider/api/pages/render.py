"""Rendering pages: the Jinja2 environment (autoescape always on), the links a page may draw, security headers.

Every value a user wrote (tags, paths, images, messages) reaches HTML only through Jinja's autoescape; the one
``Markup`` a template receives is the graphviz SVG (``pages.svg``), whose text graphviz has escaped. The
Content-Security-Policy allows scripts and styles from ``/knit/static`` only, so even a missed escape could not
run inline script.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from knit_provider.api.pages.static import version_of
from knit_provider.core.airflow_names import KNIT_MOUNT, RUN_TASK_ID
from knit_provider.core.errors import KnitError
from knit_provider.core.tags import SYSTEM_PREFIX

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
#: The app's mount point on the api-server (``KnitPlugin.fastapi_apps``); Airflow's own pages are beside it.
MOUNT_PREFIX = KNIT_MOUNT
#: The task of every Plan DAG (``dags.factory.plan_dag``): its page shows the Run's Airflow log.

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template, whatever its name
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _segments(parts: Iterable[str]) -> str:
    return "".join("/" + quote(str(p), safe="") for p in parts)


def _query(params: Mapping[str, object]) -> str:
    pairs = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(key, str(v)) for v in values if v not in (None, "")]
    return "?" + urlencode(pairs) if pairs else ""


@dataclass(frozen=True)
class Links:
    """URLs of Knit's pages and Airflow's, under whatever prefix the api-server is served at."""

    knit_base: str  # e.g. ``/knit`` or ``/airflow/knit`` behind a path prefix
    airflow_base: str  # e.g. ``""`` or ``/airflow``

    @classmethod
    def of(cls, request: Request) -> Links:
        root = str(request.scope.get("root_path") or "").rstrip("/")
        airflow = root.removesuffix(MOUNT_PREFIX) if root.endswith(MOUNT_PREFIX) else ""
        return cls(knit_base=root, airflow_base=airflow)

    def knit(self, *parts: str, **query: object) -> str:
        return self.knit_base + _segments(parts) + _query(query)

    def data(self, knit_id: str) -> str:
        return self.knit("data", knit_id)

    def run(self, run_id: str) -> str:
        return self.knit("runs", run_id)

    def plan(self, plan_id: str) -> str:
        return self.knit("plans", plan_id)

    def lineage(self, knit_id: str, **query: object) -> str:
        return self.knit("lineage", knit_id, **query)

    def browse(self, *tags: str) -> str:
        """The Data browser searching ``tags``."""
        return self.knit("data", tags="\n".join(tags))

    def static(self, name: str) -> str:
        return self.knit("static", name, v=version_of(name))

    def download(self, knit_id: str) -> str:
        """The REST API's streamed tar.gz of a Data (``GET /knit/api/data/{id}``, Knitfab's download route)."""
        return self.knit("api", "data", knit_id)

    def airflow(self, *parts: str) -> str:
        """A page of Airflow's UI; none named: its home, ``/`` or ``/airflow/`` (the base path with its slash)."""
        return self.airflow_base + (_segments(parts) or "/")

    def airflow_login(self, next_url: str) -> str:
        """Airflow's login page for whichever auth manager is configured, coming back to ``next_url``."""
        return self.airflow_base + "/api/v2/auth/login" + _query({"next": next_url})


def tag_parts(tag: str) -> tuple[str, str]:
    key, _, value = tag.partition(":")
    return key, value


def is_system(tag: str) -> bool:
    return tag.startswith(SYSTEM_PREFIX)


def system_value(tags: Iterable[str], key: str) -> str | None:
    prefix = key + ":"
    return next((t[len(prefix) :] for t in tags if t.startswith(prefix)), None)


def query_with(request: Request, **changes: object) -> str:
    """This page's query string with some parameters replaced (a pager's next page keeps the filters)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    return "?" + urlencode(kept + [(k, str(v)) for k, v in changes.items() if v is not None])


_env.filters.update(tag_parts=tag_parts)
_env.tests.update(system=is_system)
_env.globals.update(system_value=system_value, query_with=query_with, PLAN_TASK_ID=RUN_TASK_ID)


def page(request: Request, template: str, *, status: int = 200, **context: object) -> HTMLResponse:
    """A page from ``templates/<template>`` with the request's links and the security headers."""
    html = _env.get_template(template).render(links=Links.of(request), request=request, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def message(request: Request, title: str, text: str, *, status: int = 404) -> HTMLResponse:
    """A page that only says something (not found, not a Knit DAG, bad input)."""
    return page(request, "message.html", status=status, title=title, text=text)


def shows_errors(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Turn a ``KnitError`` (unknown id, bad filter) into a page naming what is wrong, with its HTTP status."""

    @functools.wraps(handler)
    def wrapper(*args: object, **kwargs: object) -> Response:
        try:
            return handler(*args, **kwargs)
        except KnitError as err:
            request = kwargs["request"]
            assert isinstance(request, Request)
            title = {404: "Not found", 409: "Conflict"}.get(err.http_status, "Bad request")
            return message(request, title, str(err), status=err.http_status)

    return wrapper
