"""``knit data purge --where``: the selection options and what the command prints (beyond Knitfab)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from knit_provider.cli.app import emit

SELECTING = ("tags", "transient", "keep_last", "per", "older_than", "superseded")


def where_options(command: Callable) -> Callable:
    """The options of ``knit data purge --where`` (applied bottom-up, so listed here in reverse)."""
    for decorator in reversed(
        [
            click.option(
                "--where", is_flag=True,
                help="Purge the Data the options below select (instead of one KNIT_ID); --dry-run lists them.",
            ),
            click.option("-t", "--tag", "tags", multiple=True, metavar="KEY:VALUE", help="--where: Data tagged so."),
            click.option(
                "--transient", type=click.Choice(["both", "no", "failed"]), default=None,
                help="--where: only failed Data, or only usable (no) Data.",
            ),
            click.option(
                "--keep-last", type=click.IntRange(min=0), default=None, metavar="N",
                help="--where: keep the N newest Data of each group (--per), select the older ones.",
            ),
            click.option("--per", multiple=True, metavar="KEY", help="--where: group by this tag key (repeatable)."),
            click.option("--older-than", metavar="AGE", help="--where: only Data older than this (30d, 12h, 1h30m)."),
            click.option("--superseded", is_flag=True, help="--where: only Data Runs used, none unfinished."),
            click.option("--dry-run", is_flag=True, help="--where: list what would go and the bytes freed, only."),
        ]
    ):  # fmt: skip
        command = decorator(command)
    return command


def selection_of(options: dict[str, Any]) -> dict[str, Any]:
    """The selection (``Selection.as_json``'s form) the options give; a usage error when they are misplaced."""
    where = {
        "tags": list(options["tags"]),
        "transient": options["transient"] or "both",
        "keep_last": options["keep_last"],
        "per": list(options["per"]),
        "older_than": options["older_than"],
        "superseded": options["superseded"],
    }
    return where


def check_usage(where: bool, knit_id: str | None, options: dict[str, Any], dry_run: bool) -> None:
    used = [name for name in SELECTING if options[name] not in (None, (), False)]
    if where and knit_id is not None:
        raise click.UsageError("give either KNIT_ID or --where with its options, not both")
    if not where and knit_id is None:
        raise click.UsageError("give KNIT_ID, or --where with the options that select Data")
    if not where and (used or dry_run):
        flags = ", ".join("--" + name.replace("_", "-") for name in used) or "--dry-run"
        raise click.UsageError(f"{flags} select Data with --where (knit data purge --where ...)")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def report_where(report: dict) -> None:
    """The report on stdout; one line on stderr."""
    emit(report)
    verb = "would purge" if report["dryRun"] else "purged"
    line = f"knit: {verb} {report['count']} Data ({_mib(report['bytes'])} freed)"
    if report["keptNewest"]:
        line += f"; kept the {report['keptNewest']} newest"
    if report["protected"] or report["skipped"]:
        line += f"; {len(report['protected']) + len(report['skipped'])} in use kept"
    click.echo(line, err=True)
