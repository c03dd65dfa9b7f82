"""``knit data lineage`` and ``knit plan graph``: DOT on stdout, or SVG/PNG files through graphviz."""

from __future__ import annotations

from pathlib import Path

import click

from knit_provider.cli.backend import open_backend
from knit_provider.cli.data_cmds import data
from knit_provider.cli.plan_cmds import plan
from knit_provider.core.graphs import parse_depth


def _check_output(fmt: str, out: Path | None) -> None:
    if fmt != "dot" and out is None:
        raise click.UsageError(f"--format {fmt} needs -o FILE")


def _output(dot: str, fmt: str, out: Path | None) -> None:
    """The DOT text (from either backend) as is, or laid out here by Graphviz: the same bytes in both modes."""
    if out is None:
        click.echo(dot)
    elif fmt == "dot":
        out.write_text(dot + "\n")
    else:
        from knit_provider.service.graphs import render

        rendered = render(dot, "png" if fmt == "png" else "svg")
        out.write_bytes(rendered)
        click.echo(f"wrote {out} ({len(rendered)} bytes)", err=True)


def graph_options(command):
    command = click.option("-u", "--upstream", is_flag=True, help="Trace upstream.")(command)
    command = click.option("-d", "--downstream", is_flag=True, help="Trace downstream (both when neither is given).")(
        command
    )
    command = click.option("-n", "--numbers", default="3", show_default=True, metavar="N|all", help="Depth.")(command)
    command = click.option(
        "--format", "fmt", default="dot", show_default=True, type=click.Choice(["dot", "svg", "png"]),
        help="dot prints Graphviz text; svg and png are rendered with graphviz into -o FILE.",
    )(command)  # fmt: skip
    return click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path), help="File.")(command)


@data.command()
@graph_options
@click.argument("knit_id")
def lineage(upstream: bool, downstream: bool, numbers: str, fmt: str, out: Path | None, knit_id: str) -> None:
    """Draw the lineage around a Data: the Runs and Data it came from and that came from it."""
    _check_output(fmt, out)
    depth = parse_depth(numbers, field="--numbers")
    with open_backend() as backend:
        dot = backend.graphs.lineage(knit_id, upstream=upstream, downstream=downstream, depth=depth)
    _output(dot, fmt, out)


@plan.command()
@graph_options
@click.argument("plan_id")
def graph(upstream: bool, downstream: bool, numbers: str, fmt: str, out: Path | None, plan_id: str) -> None:
    """Draw which Plans feed a Plan and which it feeds (outputs whose tags include an input's tags)."""
    _check_output(fmt, out)
    depth = parse_depth(numbers, field="--numbers")
    with open_backend() as backend:
        dot = backend.graphs.plan_graph(plan_id, upstream=upstream, downstream=downstream, depth=depth)
    _output(dot, fmt, out)
