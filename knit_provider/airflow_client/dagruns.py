"""Starting a Knit Run's DagRun through Airflow's REST API, from whoever committed the write that created it.

A push then reaches the scheduler directly instead of waiting for the generator's trigger to fire and its
task to resume on a worker (one scheduler round trip saved). The generator stays the safety net: whatever is
not started here (Airflow down, the Plan's DAG not parsed yet) is released and started by its next pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from knit_provider.core.airflow_names import Dispatch, web_path
from knit_provider.core.errors import KnitError

TIMEOUT_S = 10.0
FINISHED = ("success", "failed")


class AirflowUnavailable(KnitError):
    """Airflow's API refused or could not be reached; the Run stays waiting for the generator.

    ``status`` is the HTTP status of the refusal, None when Airflow was not reached (or did not answer in time).
    """

    http_status = 503

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def overloaded(self) -> bool:
        """Not reached, too slow, or a server-side failure: signs of a busy Airflow (not a refusal of this Run)."""
        return self.status is None or self.status == 429 or self.status >= 500


@dataclass(frozen=True)
class AirflowEndpoint:
    """Where Airflow's API is and how to authenticate: a token, or a user and password traded for one."""

    url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AirflowEndpoint | None:
        url = env.get("KNIT_AIRFLOW_URL")
        if not url:
            return None
        return cls(
            url=url,
            token=env.get("KNIT_AIRFLOW_TOKEN") or None,
            username=env.get("KNIT_AIRFLOW_USERNAME") or None,
            password=env.get("KNIT_AIRFLOW_PASSWORD") or None,
        )


class DagRunStarter:
    """Creates (or, for a retried Run whose DagRun already finished, clears) one DagRun per call."""

    def __init__(self, endpoint: AirflowEndpoint, client: httpx.Client | None = None) -> None:
        self.endpoint = endpoint
        self.client = client or httpx.Client(base_url=endpoint.url.rstrip("/"), timeout=TIMEOUT_S)
        self._token = endpoint.token

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> DagRunStarter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bearer(self) -> dict[str, str]:
        if self._token is None:
            if not (self.endpoint.username and self.endpoint.password):
                raise AirflowUnavailable(f"no token nor username/password for Airflow at {self.endpoint.url}")
            reply = self._call("POST", "/auth/token", auth=False, json=self._credentials())
            self._token = reply.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def _credentials(self) -> dict[str, str | None]:
        return {"username": self.endpoint.username, "password": self.endpoint.password}

    def _call(
        self, method: str, path: str, *, auth: bool = True, ok: tuple[int, ...] = (), **kw: Any
    ) -> httpx.Response:
        try:
            reply = self.client.request(method, path, headers=self._bearer() if auth else None, **kw)
        except httpx.HTTPError as err:
            raise AirflowUnavailable(f"Airflow at {self.endpoint.url} not reached: {err}") from None
        if reply.is_success or reply.status_code in ok:
            return reply
        raise AirflowUnavailable(f"{method} {path}: HTTP {reply.status_code}: {reply.text[:300]}", reply.status_code)

    def start(self, dispatch: Dispatch, may_clear: Callable[[], bool]) -> None:
        """Create the Run's DagRun. Idempotent: an existing DagRun counts as started; a finished one is cleared to
        run again only when ``may_clear()`` says so (a retried Run, not a stale claim on a Run another dispatcher
        already ran)."""
        dag_id, dagrun_id = dispatch.dag_id, dispatch.dagrun_id
        note = dispatch.note_at(web_path(self.endpoint.url))  # the UI's links live under the URL's path too
        body = {"dag_run_id": dagrun_id, "logical_date": None, "conf": dispatch.conf, "note": note}
        created = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body, ok=(409,))
        if created.status_code != 409:
            return
        existing = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{dagrun_id}").json()
        if existing.get("state") in FINISHED and may_clear():
            self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns/{dagrun_id}/clear", json={"dry_run": False})
