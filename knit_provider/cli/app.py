"""The ``knit`` group, its shared options and the error contract.

stdout carries JSON in Knitfab's shapes; stderr carries progress and messages. Exit codes: 0 on
success, 1 with a one-line message on a user error, 2 on a usage error (click's own). The same in the local and
the remote mode (``cli.backend``).
"""

from __future__ import annotations

import json
import sys

import click

from knit_provider.core.errors import KnitError, UsageError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


class KnitGroup(click.Group):
    """Turns every ``KnitError`` into a one-line message and exit code 1 (2 for a ``UsageError``). At the top
    level, a name that is no built-in verb runs the extension ``knit-NAME`` found on ``PATH`` (``cli.extensions``).
    """

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or ctx.parent is not None:
            return found
        from knit_provider.cli.extensions import extension_command, find_extensions

        program = find_extensions().get(cmd_name)
        return extension_command(cmd_name, program) if program is not None else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_commands(ctx, formatter)
        if ctx.parent is not None:
            return
        from knit_provider.cli.extensions import find_extensions

        extensions = {name: path for name, path in find_extensions().items() if name not in self.commands}
        if extensions:
            with formatter.section("Extensions (knit-NAME programs on PATH)"):
                formatter.write_dl([(name, f"(= {path})") for name, path in sorted(extensions.items())])

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KnitError as err:
            click.echo(f"knit: {err}", err=True)
            ctx.exit(2 if isinstance(err, UsageError) else 1)
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
