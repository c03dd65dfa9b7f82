"""The ``knit`` group, its shared options and the error contract.

stdout carries JSON in Knitfab's shapes; stderr carries progress and messages. Exit codes: 0 on
success, 1 with a one-line message on a user error, 2 on a usage error (click's own). The same in the local and
the remote mode (``cli.backend``).
"""

from __future__ import annotations

import json
import sys

import click

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


@click.group(cls=KnitGroup, context_settings=CONTEXT)
@click.version_option(package_name="airflow-provider-knit", prog_name="knit")
def knit() -> None:
    """Knitfab's tag-driven workflows and lineage, on Apache Airflow."""


def main() -> None:
    knit.main(prog_name="knit", standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
