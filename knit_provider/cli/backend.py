"""Where a ``knit`` command's work happens: in a catalog opened here (LOCAL), or on an Airflow's Knit API (REMOTE).

The mode rule: a profile that names an Airflow (``knit init --airflow URL``) and no local catalog (neither
``--home`` nor ``--catalog-url``) is REMOTE: every command goes through that Airflow's Knit REST API. Any other
profile is LOCAL (and, naming an Airflow, starts the Runs a write creates through Airflow's REST API at once).
Without a profile, ``KNIT_REMOTE_URL`` selects the remote mode (credentials in ``KNIT_AIRFLOW_TOKEN``, or
``KNIT_AIRFLOW_USERNAME`` and ``KNIT_AIRFLOW_PASSWORD``); otherwise the environment's catalog is used.

Both backends have ``.data``, ``.plans``, ``.runs`` and ``.graphs`` with the service modules' function names and
arguments minus the catalog (graphs as DOT text): each command is written once, and prints the same output and
exit code in both modes. The Runs a write creates start at once in both: the api-server starts them (remote), or
the local catalog's dispatcher does through Airflow's REST API (local, when an Airflow is named).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from knit_provider.cli.profiles import Profile, active_profile
from knit_provider.core.errors import CatalogMissing, InvalidInput, shown


@dataclass(frozen=True)
class RemoteTarget:
    """The Airflow a remote ``knit`` talks to, and where that was said (for error messages)."""

    url: str
    origin: str
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def is_remote(profile: Profile) -> bool:
    """The mode rule: an Airflow and no local catalog."""
    return bool(profile.airflow_url) and not profile.home and not profile.catalog_url


def check_airflow_url(url: str, origin: str) -> str:
    if not url.startswith(("http://", "https://")) or len(url.split("://", 1)[1].strip("/")) == 0:
        raise InvalidInput(f"Airflow URL must be http(s)://host[:port][/path], not {shown(url)} ({origin})")
    return url.rstrip("/")


def remote_target(cwd: Path, env: Mapping[str, str] = os.environ) -> RemoteTarget | None:
    """The Airflow to go through when this directory works remotely; None for the local mode."""
    found = active_profile(cwd)
    if found is not None:
        name, profile = found
        if not is_remote(profile):
            return None
        origin = f"profile {name!r}"
        return RemoteTarget(
            url=check_airflow_url(profile.airflow_url or "", origin),
            origin=origin,
            token=profile.airflow_token,
            username=profile.airflow_username,
            password=profile.airflow_password,
        )
    url = env.get("KNIT_REMOTE_URL")
    if not url:
        return None
    return RemoteTarget(
        url=check_airflow_url(url, "KNIT_REMOTE_URL"),
        origin="KNIT_REMOTE_URL",
        token=env.get("KNIT_AIRFLOW_TOKEN") or None,
        username=env.get("KNIT_AIRFLOW_USERNAME") or None,
        password=env.get("KNIT_AIRFLOW_PASSWORD") or None,
    )


@contextmanager
def open_backend() -> Iterator[LocalBackend | RemoteBackend]:
    """The backend this directory works against, by the mode rule."""
    target = remote_target(Path.cwd())
    if target is None:
        with open_local_backend() as local:
            yield local
    else:
        with open_remote_backend(target) as remote:
            yield remote


# ---- local ---------------------------------------------------------------------------------------------------


class _Bound:
    """A service module with the catalog bound as every function's first argument."""

    def __init__(self, module: ModuleType, knit: Any) -> None:
        self._module = module
        self._knit = knit

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return functools.partial(getattr(self._module, name), self._knit)


class _LocalGraphs:
    """``service.graphs`` as DOT text, as the remote API returns it."""

    def __init__(self, knit: Any) -> None:
        self._knit = knit

    def lineage(self, knit_id: str, **options: Any) -> str:
        from knit_provider.service import graphs

        return graphs.lineage(self._knit, knit_id, **options).to_dot()

    def plan_graph(self, plan_id: str, **options: Any) -> str:
        from knit_provider.service import graphs

        return graphs.plan_graph(self._knit, plan_id, **options).to_dot()


class LocalBackend:
    """The service layer on the catalog this directory names (its profile, else the environment)."""

    def __init__(self, knit: Any) -> None:
        from knit_provider.service import data, explain, plans, previews, retention, runs

        self.knit = knit
        self.data = _Bound(data, knit)
        self.explain = _Bound(explain, knit)
        self.previews = _Bound(previews, knit)
        self.retention = _Bound(retention, knit)
        self.plans = _Bound(plans, knit)
        self.runs = _Bound(runs, knit)
        self.graphs = _LocalGraphs(knit)


def open_knit():
    """The catalog this directory works against: its profile, else the environment. It must exist: a mistyped
    path is refused, naming it and how to create a catalog, instead of becoming a new, empty catalog."""
    from knit_provider.service import Knit, StoreSpec

    found = active_profile(Path.cwd())
    try:
        if found is None:
            return Knit.open(create=False)
        store = StoreSpec.from_env(url=found[1].data_store)
        return Knit.open(url=found[1].catalog_url, home=found[1].home, create=False, store=store)
    except CatalogMissing as err:
        if found is not None:
            origin = f"profile {found[0]!r}"
        else:
            origin = next((v for v in ("KNIT_CATALOG_URL", "KNIT_HOME") if os.environ.get(v)), "the default home")
        raise err.with_hint(
            f"(from {origin}): check the path, or create a catalog with `knit init PROFILE` "
            "(--home DIR or --catalog-url URL to choose where)"
        ) from None


def airflow_endpoint():
    """Airflow's API as the profile (else ``KNIT_AIRFLOW_*``) names it; None when no Airflow is named."""
    from knit_provider.airflow_client.dagruns import AirflowEndpoint

    found = active_profile(Path.cwd())
    if found is not None and found[1].airflow_url:
        profile = found[1]
        return AirflowEndpoint(
            url=profile.airflow_url,
            token=profile.airflow_token,
            username=profile.airflow_username,
            password=profile.airflow_password,
        )
    return AirflowEndpoint.from_env()


class AirflowApiDispatcher:
    """Push-time start for a local catalog: the Runs a write made waiting start through Airflow's REST API, with
    the credentials the profile (or ``KNIT_AIRFLOW_*``) names. A Run Airflow does not take is left to the
    generator, which starts it a moment later; the command never fails for it (the write is committed)."""

    def __init__(self, endpoint: Any) -> None:
        from knit_provider.airflow_client.dagruns import DagRunStarter

        self.starter = DagRunStarter(endpoint)

    def runs_waiting(self, knit: Any, run_ids: Sequence[str]) -> None:
        from knit_provider.airflow_client.dagruns import AirflowUnavailable
        from knit_provider.core.options import OPTIONS
        from knit_provider.service.starting import start_now

        redispatch_after_s = float(OPTIONS["redispatch_after"][0])
        report = start_now(
            knit, run_ids, self.starter.start, refusals=(AirflowUnavailable,), redispatch_after_s=redispatch_after_s
        )
        if report.deferred:
            first = next(iter(report.deferred.values()))
            click.echo(f"knit: {len(report.deferred)} Run(s) left to Airflow's generator ({first})", err=True)

    def close(self) -> None:
        self.starter.close()


def local_actor() -> str:
    """Who a local ``knit`` writes as (recorded on the Runs its writes create): the OS user on this machine."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()} (knit CLI)"


@contextmanager
def open_local_backend() -> Iterator[LocalBackend]:
    """The profile's catalog; when it names an Airflow, the Runs each write creates start there at once."""
    with ExitStack() as stack:
        knit = stack.enter_context(open_knit())
        knit.actor = local_actor()
        endpoint = airflow_endpoint()
        if endpoint is not None:
            knit.dispatcher = AirflowApiDispatcher(endpoint)
            stack.callback(knit.dispatcher.close)
        yield LocalBackend(knit)


# ---- remote --------------------------------------------------------------------------------------------------


class _RemoteRuns:
    """``client.runs``; following a log waits as long as the Run runs (no read timeout on that stream)."""

    def __init__(self, client: Any, target: RemoteTarget) -> None:
        self._client = client
        self._target = target

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client.runs, name)

    def follow_log(self, run_id: str, *, follow: bool = False) -> Iterator[str]:
        if not follow:
            yield from self._client.runs.follow_log(run_id)
            return
        with _client_for(self._target, read_timeout=None) as patient:
            yield from patient.runs.follow_log(run_id, follow=True)


def _client_for(target: RemoteTarget, *, read_timeout: float | None = 300.0):
    import httpx

    from knit_provider.remote import KnitClient

    http = httpx.Client(base_url=target.url, timeout=httpx.Timeout(300.0, connect=10.0, read=read_timeout))
    return KnitClient(target.url, token=target.token, username=target.username, password=target.password, http=http)


class RemoteBackend:
    """The Knit REST API of the Airflow the profile names (``knit_provider.remote.KnitClient``)."""

    def __init__(self, client: Any, target: RemoteTarget) -> None:
        self.client = client
        self.data = client.data
        self.plans = client.plans
        self.runs = _RemoteRuns(client, target)
        self.graphs = client.graphs
        self.explain = client.explain
        self.previews = client.previews
        self.retention = client.retention


@contextmanager
def open_remote_backend(target: RemoteTarget) -> Iterator[RemoteBackend]:
    """A failure of the conversation itself (login, access, server error, unreachable) names the Airflow."""
    from knit_provider.remote import RemoteError

    try:
        with _client_for(target) as client:
            yield RemoteBackend(client, target)
    except RemoteError as err:
        where = f"Airflow at {target.url}, {target.origin}" if target.url not in str(err) else target.origin
        raise RemoteError(f"{err} ({where})", err.http_status) from None
