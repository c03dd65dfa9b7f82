"""``knit data lineage`` and ``knit plan graph``: DOT on stdout, or SVG/PNG files through graphviz."""

from __future__ import annotations

from pathlib import Path

import click

from knit_provider.cli.app import open_knit
from knit_provider.cli.data_cmds import data
from knit_provider.cli.plan_cmds import plan
from knit_provider.core.errors import InvalidInput
from knit_provider.service import graphs


def _depth(value: str) -> int | None:
    if value == "all":
        return None
    if not value.isdigit() or int(value) < 1:
        raise InvalidInput(f"must be a positive number or 'all', not {value!r}", field="--numbers")
    return int(value)


def _output(graph: graphs.Graph, fmt: str, out: Path | None) -> None:
    if fmt == "dot":
        text = graph.to_dot()
        if out is None:
            click.echo(text)
        else:
            out.write_text(text + "\n")
        return
    if out is None:
        raise click.UsageError(f"--format {fmt} needs -o FILE")
    out.write_bytes(graphs.render(graph, fmt))
    click.echo(f"wrote {out} ({graph.node_count} nodes)", err=True)


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
    with open_knit() as knit_:
        graph = graphs.lineage(knit_, knit_id, upstream=upstream, downstream=downstream, depth=_depth(numbers))
    _output(graph, fmt, out)


@plan.command()
@graph_options
@click.argument("plan_id")
def graph(upstream: bool, downstream: bool, numbers: str, fmt: str, out: Path | None, plan_id: str) -> None:
    """Draw which Plans feed a Plan and which it feeds (outputs whose tags include an input's tags)."""
    with open_knit() as knit_:
        drawn = graphs.plan_graph(knit_, plan_id, upstream=upstream, downstream=downstream, depth=_depth(numbers))
    _output(drawn, fmt, out)
