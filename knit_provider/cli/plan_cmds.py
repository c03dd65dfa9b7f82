"""``knit plan``: apply, show, find, active, resource, annotate, serviceaccount (template and graph beside)."""

from __future__ import annotations

from pathlib import Path

import click

from knit_provider.cli.app import emit, knit
from knit_provider.cli.backend import open_backend
from knit_provider.core.errors import InvalidInput


@knit.group()
def plan() -> None:
    """Plans: a program, the tags its inputs need and the tags its outputs get."""


@plan.command()
@click.argument("plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def apply(plan_file: Path) -> None:
    """Register the Plan in PLAN_FILE; existing Data that satisfies it starts Runs at once."""
    try:
        text = plan_file.read_text()
    except UnicodeDecodeError:
        raise InvalidInput(f"{plan_file} is not a UTF-8 text file") from None
    with open_backend() as backend:
        emit(backend.plans.apply(text))


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
@click.argument("mode", type=click.Choice(["yes", "no", "true", "false"]))
@click.argument("plan_id")
def active(mode: str, plan_id: str) -> None:
    """Activate (yes) or deactivate (no) a Plan: its waiting Runs wait for activation."""
    with open_backend() as backend:
        changed = backend.plans.set_active(plan_id, mode in ("yes", "true"))
        backend.after_write()
    emit(changed)


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"{option} takes KEY=VALUE, not {value!r}")
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
