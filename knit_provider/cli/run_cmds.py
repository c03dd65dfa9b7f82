"""``knit run``: find, show (with its log), stop, retry, rm."""

from __future__ import annotations

import click

from knit_provider.cli.app import emit, knit
from knit_provider.cli.backend import open_backend
from knit_provider.cli.listing import emit_stream, newest
from knit_provider.core.lifecycle import FINDABLE
from knit_provider.core.timefmt import LOOSE_TIME_FORMAT


@knit.group()
def run() -> None:
    """Runs: one per combination of Data that satisfies a Plan."""


@run.command()
@click.option(
    "-p", "--planid", "--plan", "plan_ids", multiple=True, metavar="PLAN_ID", help="Runs of this Plan (repeatable, OR)."
)
@click.option(
    "-i", "--in-knitid", "--in", "input_ids", multiple=True, metavar="KNIT_ID", help="Runs reading this Data."
)
@click.option(
    "-o", "--out-knitid", "--out", "output_ids", multiple=True, metavar="KNIT_ID", help="Runs writing this Data."
)
@click.option(
    "-s",
    "--status",
    "statuses",
    multiple=True,
    metavar="STATUS",
    help=f"Runs in this status (repeatable): {', '.join(s.value for s in FINDABLE)}.",
)
@click.option(
    "--since",
    metavar=LOOSE_TIME_FORMAT,
    help="Only Runs updated at or after this time (no zone: local time; e.g. 2024-10-31, 2024-10-31 01:23).",
)
@click.option("--duration", metavar="DURATION", help="With --since: a window such as 2h or 30m.")
@click.option(
    "--limit", type=click.IntRange(min=1), metavar="N",
    help="Only the N newest Runs (by creation), newest first (without it: all of them, oldest update first, "
    "as Knitfab prints them).",
)  # fmt: skip
def find(plan_ids, input_ids, output_ids, statuses, since, duration, limit) -> None:
    """Find Runs; repeats of one flag are OR, different flags are AND.

    The JSON array is printed as it is read, so a long list costs no more memory than a short one.
    """
    filters = {
        "plan_ids": plan_ids, "input_ids": input_ids, "output_ids": output_ids, "statuses": statuses,
        "since": since, "duration": duration,
    }  # fmt: skip
    with open_backend() as backend:
        if limit is None:
            emit_stream(backend.runs.find_iter(**filters))
        else:
            emit_stream(newest(backend.runs.find_page, limit, **filters))


@run.command()
@click.option("--log", "show_log", is_flag=True, help="Print the Run's log instead of its JSON.")
@click.option("-f", "--follow", is_flag=True, help="With --log: keep printing until the Run finishes.")
@click.argument("run_id")
def show(show_log: bool, follow: bool, run_id: str) -> None:
    """Show a Run, or its log."""
    if follow and not show_log:
        raise click.UsageError("--follow goes with --log")
    with open_backend() as backend:
        if not show_log:
            emit(backend.runs.show(run_id))
            return
        for chunk in backend.runs.follow_log(run_id, follow=follow):
            click.echo(chunk, nl=False)


@run.command()
@click.option("-x", "--fail", is_flag=True, help="Abort: the Run ends failed (exit 253) instead of done.")
@click.argument("run_id")
def stop(fail: bool, run_id: str) -> None:
    """Stop a Run: it ends done (stopped by user), or failed with --fail."""
    with open_backend() as backend:
        stopped = backend.runs.stop(run_id, fail=fail)
    click.echo(f"Run Id: {run_id} is {'aborting' if fail else 'stopping'}.", err=True)
    emit(stopped)


@run.command()
@click.argument("run_id")
def retry(run_id: str) -> None:
    """Run a done or failed Run again, with new outputs (refused while its outputs are used)."""
    with open_backend() as backend:
        retried = backend.runs.retry(run_id)
    click.echo(f"requested to retry Run: {run_id}", err=True)
    emit(retried)


@run.command()
@click.argument("run_id")
def rm(run_id: str) -> None:
    """Remove a Run: an upload goes with its Data; others stay as invalidated tombstones."""
    with open_backend() as backend:
        backend.runs.remove(run_id)
    click.echo(f"deleted Run Id:{run_id}", err=True)
