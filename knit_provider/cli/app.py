"""The ``knit`` group, its shared options and the error contract.

stdout carries JSON in Knitfab's shapes; stderr carries progress and messages. Exit codes: 0 on
success, 1 with a one-line message on a user error, 2 on a usage error (click's own).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from knit_provider.cli.profiles import active_profile
from knit_provider.core.errors import KnitError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class KnitGroup(click.Group):
    """Turns every ``KnitError`` into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KnitError as err:
            click.echo(f"knit: {err}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("knit: interrupted; nothing was kept", err=True)
            ctx.exit(130)


def emit(obj: object) -> None:
    """JSON on stdout, indented with 4 spaces as Knitfab prints it."""
    click.echo(json.dumps(obj, indent=4, ensure_ascii=False))


def open_knit():
    """The catalog this directory works against: its profile, else the environment."""
    from knit_provider.service import Knit

    found = active_profile(Path.cwd())
    if found is None:
        return Knit.open()
    _, profile = found
    return Knit.open(url=profile.catalog_url, home=profile.home)


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


@contextmanager
def new_runs_starter(knit_) -> Iterator[Callable[[], None]]:
    """Yields a callable to call after each write: it starts the Runs the write created as DagRuns now when an
    Airflow is named (else, and for whatever Airflow refuses, the generator does it a moment later).

    It never fails the command: the write is committed and its Runs are recorded whatever happens here.
    """
    endpoint = airflow_endpoint()
    if endpoint is None:
        yield lambda: None
        return
    from knit_provider.airflow_client.dagruns import DagRunStarter
    from knit_provider.service.starting import start_through_api

    with DagRunStarter(endpoint) as starter:

        def start_now() -> None:
            report = start_through_api(knit_, starter)
            if report.deferred:
                first = next(iter(report.deferred.values()))
                click.echo(f"knit: {len(report.deferred)} Run(s) left to Airflow's generator ({first})", err=True)

        yield start_now


@click.group(cls=KnitGroup, context_settings=CONTEXT)
@click.version_option(package_name="airflow-provider-knit", prog_name="knit")
def knit() -> None:
    """Knitfab's tag-driven workflows and lineage, on Apache Airflow."""


def main() -> None:
    knit.main(prog_name="knit", standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
