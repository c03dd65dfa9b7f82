"""``knit run``: find, show (with its log), stop, retry, rm."""

from __future__ import annotations

import click

from knit_provider.cli.app import emit, knit
from knit_provider.cli.backend import open_backend


@knit.group()
def run() -> None:
    """Runs: one per combination of Data that satisfies a Plan."""


@run.command()
@click.option("-p", "--plan", "plan_ids", multiple=True, metavar="PLAN_ID", help="Runs of this Plan (repeatable, OR).")
@click.option("-i", "--in", "input_ids", multiple=True, metavar="KNIT_ID", help="Runs reading this Data.")
@click.option("-o", "--out", "output_ids", multiple=True, metavar="KNIT_ID", help="Runs writing this Data.")
@click.option("-s", "--status", "statuses", multiple=True, metavar="STATUS", help="Runs in this status (repeatable).")
@click.option("--since", metavar="RFC3339", help="Only Runs updated at or after this time.")
@click.option("--duration", metavar="DURATION", help="With --since: a window such as 2h or 30m.")
def find(plan_ids, input_ids, output_ids, statuses, since, duration) -> None:
    """Find Runs; repeats of one flag are OR, different flags are AND."""
    with open_backend() as backend:
        found = backend.runs.find(
            plan_ids=plan_ids, input_ids=input_ids, output_ids=output_ids, statuses=statuses,
            since=since, duration=duration,
        )  # fmt: skip
    emit(found)


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
        backend.after_write()
    click.echo(f"requested to retry Run: {run_id}", err=True)
    emit(retried)


@run.command()
@click.argument("run_id")
def rm(run_id: str) -> None:
    """Remove a Run: an upload goes with its Data; others stay as invalidated tombstones."""
    with open_backend() as backend:
        backend.runs.remove(run_id)
    click.echo(f"deleted Run Id:{run_id}", err=True)
