"""``knit explain``: why a Data did (not) start a Plan, why a Run exists and is where it is, which Data almost
match a Plan (beyond Knitfab). JSON by default, as every command; ``--format text`` for people."""

from __future__ import annotations

from collections.abc import Callable

import click

from knit_provider.cli import explain_text
from knit_provider.cli.app import CONTEXT, KnitGroup, emit, knit
from knit_provider.cli.backend import open_backend

FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True, help="Output format."
)


def _print(explained: dict, fmt: str, as_text: Callable[[dict], str]) -> None:
    if fmt == "text":
        click.echo(as_text(explained))
    else:
        emit(explained)


class _DataByDefault(KnitGroup):
    """``knit explain DATA_ID`` is ``knit explain data DATA_ID``: the question asked most needs no sub-command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["data", *args]
        return super().parse_args(ctx, args)


@knit.group(cls=_DataByDefault, context_settings=CONTEXT)
def explain() -> None:
    """Why (not): KNIT_ID [--plan PLAN_ID], run RUN_ID, plan PLAN_ID.

    \b
    knit explain KNIT_ID          every Plan input: is the Data nominated there, and every reason that holds
    knit explain run RUN_ID       the event that created the Run, and why it is in its status
    knit explain plan PLAN_ID     Data lacking just one tag of one of the Plan's inputs
    """


@explain.command("data")
@click.option("-p", "--plan", "plan_id", metavar="PLAN_ID", help="Only the inputs of this Plan.")
@FORMAT
@click.argument("knit_id")
def explain_data(plan_id: str | None, fmt: str, knit_id: str) -> None:
    """Why the Data is (not) nominated to each Plan input, and what its Plans wait for."""
    with open_backend() as backend:
        explained = backend.explain.data(knit_id, plan_id=plan_id)
    _print(explained, fmt, explain_text.data_text)


@explain.command("run")
@FORMAT
@click.argument("run_id")
def explain_run(fmt: str, run_id: str) -> None:
    """Why the Run exists (the event that created it, when, by whom) and why it is in its status."""
    with open_backend() as backend:
        explained = backend.explain.run(run_id)
    _print(explained, fmt, explain_text.run_text)


@explain.command("plan")
@FORMAT
@click.argument("plan_id")
def explain_plan(fmt: str, plan_id: str) -> None:
    """Data that lack exactly one tag of one of the Plan's inputs (look-alike tags first)."""
    with open_backend() as backend:
        explained = backend.explain.near_misses(plan_id)
    _print(explained, fmt, explain_text.near_misses_text)
