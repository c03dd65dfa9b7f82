"""``knit plan``: apply, show, find, active, resource, annotate, serviceaccount, timeout, retries (template and
graph beside)."""

from __future__ import annotations

from pathlib import Path

import click

from knit_provider.cli.app import emit, knit
from knit_provider.cli.backend import open_backend
from knit_provider.cli.explain_text import dry_run_summary
from knit_provider.core.errors import InvalidInput, shown
from knit_provider.core.plan_spec import parse_plan_yaml


@knit.group()
def plan() -> None:
    """Plans: a program, the tags its inputs need and the tags its outputs get."""


@plan.command()
@click.option("--dry-run", is_flag=True, help="Check the Plan and show the Runs it would create; write nothing.")
@click.option("-y", "--yes", is_flag=True, help="Apply even if it creates more Runs than [knit] backfill_confirm.")
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def apply(dry_run: bool, yes: bool, plan_file: Path) -> None:
    """Register the Plan in PLAN_FILE; existing Data that satisfies it starts Runs at once.

    A Plan that would start more Runs than [knit] backfill_confirm (default 1,000; KNIT_BACKFILL_CONFIRM locally)
    is refused, naming the count, unless --yes. --dry-run shows the checks, the Runs (count and first
    combinations) and the Plans downstream, and writes nothing.
    """
    try:
        text = plan_file.read_text()
    except UnicodeDecodeError:
        raise InvalidInput(f"{plan_file} is not a UTF-8 text file") from None
    try:
        parse_plan_yaml(text, source=str(plan_file))  # checked here first, so errors name the file in both modes
    except InvalidInput as err:
        raise InvalidInput(str(err) if str(err).startswith(f"{plan_file}:") else f"{plan_file}: {err}") from None
    with open_backend() as backend:
        if dry_run:
            report = backend.previews.apply(text)
            emit(report)
            click.echo(f"knit: {dry_run_summary(report)}", err=True)
            return
        emit(backend.plans.apply(text, yes=yes))


@plan.command()
@click.argument("plan_id")
def show(plan_id: str) -> None:
    """Show one Plan."""
    with open_backend() as backend:
        emit(backend.plans.show(plan_id))


@plan.command()
@click.option("--active", default="both", show_default=True, type=click.Choice(["both", "yes", "true", "no", "false"]))
@click.option("--image", metavar="IMAGE[:TAG]", help="Only Plans of this image (any tag when none is given).")
@click.option("-i", "--in-tag", "in_tags", multiple=True, metavar="KEY:VALUE", help="Tags carried by one single input.")
@click.option("-o", "--out-tag", "out_tags", multiple=True, metavar="KEY:VALUE", help="Tags carried by one output.")
def find(active: str, image: str | None, in_tags: tuple[str, ...], out_tags: tuple[str, ...]) -> None:
    """Find Plans."""
    with open_backend() as backend:
        emit(backend.plans.find(active=active, image=image, in_tags=in_tags, out_tags=out_tags))


@plan.command()
@click.option("--dry-run", is_flag=True, help="Show the Runs that would wait again (or be deactivated); write nothing.")
@click.argument("mode", type=click.Choice(["yes", "no", "true", "false"]))
@click.argument("plan_id")
def active(dry_run: bool, mode: str, plan_id: str) -> None:
    """Activate (yes) or deactivate (no) a Plan: its waiting Runs wait for activation."""
    with open_backend() as backend:
        if dry_run:
            report = backend.previews.set_active(plan_id, mode in ("yes", "true"))
            emit(report)
            click.echo(f"knit: {dry_run_summary(report)}", err=True)
            return
        changed = backend.plans.set_active(plan_id, mode in ("yes", "true"))
    emit(changed)


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"{option} takes KEY=VALUE, not {shown(value)}")
        pairs.append((key.strip(), rest.strip()))
    return pairs


@plan.command()
@click.option("-s", "--set", "set_", multiple=True, metavar="TYPE=VALUE", help="Set a resource, e.g. cpu=2.")
@click.option("-u", "--unset", multiple=True, metavar="TYPE", help="Unset a resource, e.g. nvidia.com/gpu.")
@click.argument("plan_id")
def resource(set_: tuple[str, ...], unset: tuple[str, ...], plan_id: str) -> None:
    """Change a Plan's resources (applies to Runs that start later)."""
    if not set_ and not unset:
        raise click.UsageError("give --set and/or --unset")
    with open_backend() as backend:
        emit(backend.plans.set_resources(plan_id, set_=dict(_pairs(set_, "--set")), unset=unset))


@plan.command()
@click.option("--add", multiple=True, metavar="KEY=VALUE", help="Annotation to add (repeatable).")
@click.option("--remove", multiple=True, metavar="KEY=VALUE", help="Annotation to remove (repeatable).")
@click.option("--remove-key", multiple=True, metavar="KEY", help="Remove the annotation with this key.")
@click.argument("plan_id")
def annotate(add: tuple[str, ...], remove: tuple[str, ...], remove_key: tuple[str, ...], plan_id: str) -> None:
    """Edit a Plan's annotations."""
    with open_backend() as backend:
        emit(backend.plans.annotate(plan_id, add=add, remove=remove, remove_keys=remove_key))


@plan.command()
@click.option("--set", "name", metavar="NAME", help="Service account the Plan's pods run as.")
@click.option("--unset", is_flag=True, help="Remove the service account.")
@click.argument("plan_id")
def serviceaccount(name: str | None, unset: bool, plan_id: str) -> None:
    """Set or unset a Plan's service account."""
    if (name is None) == (not unset):
        raise click.UsageError("give exactly one of --set NAME or --unset")
    with open_backend() as backend:
        emit(backend.plans.set_service_account(plan_id, None if unset else name))


@plan.command()
@click.option("--unset", is_flag=True, help="Remove the timeout ([knit] default_timeout applies).")
@click.argument("plan_id")
@click.argument("duration", required=False)
def timeout(unset: bool, plan_id: str, duration: str | None) -> None:
    """Set a Plan's timeout (beyond Knitfab): a Run attempt running longer than DURATION (e.g. 2h) fails."""
    if (duration is None) == (not unset):
        raise click.UsageError("give exactly one of DURATION or --unset")
    with open_backend() as backend:
        emit(backend.plans.set_timeout(plan_id, None if unset else duration))


@plan.command()
@click.option("--delay", metavar="DURATION", help="Wait this long before each retry (default 30s).")
@click.option("--unset", is_flag=True, help="Remove the retries ([knit] default_retries applies).")
@click.argument("plan_id")
@click.argument("count", required=False, type=click.IntRange(0, 100))
def retries(delay: str | None, unset: bool, plan_id: str, count: int | None) -> None:
    """Set a Plan's automatic retries (beyond Knitfab): a failed Run attempt is tried again up to COUNT times."""
    if (count is None) == (not unset):
        raise click.UsageError("give exactly one of COUNT or --unset")
    if unset and delay is not None:
        raise click.UsageError("--delay goes with COUNT, not --unset")
    with open_backend() as backend:
        emit(backend.plans.set_retries(plan_id, None if unset else count, delay=delay))
