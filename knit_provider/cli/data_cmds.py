"""``knit data``: push, find, pull, tag, lineage."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from knit_provider.cli.app import emit, knit
from knit_provider.cli.backend import open_backend
from knit_provider.core.errors import InvalidInput
from knit_provider.core.knitenv import find_knitenv, load_knitenv
from knit_provider.core.tags import parse_user_tags


@knit.group()
def data() -> None:
    """Data: immutable, tagged directories."""


@data.command()
@click.option("-t", "--tag", "tags", multiple=True, metavar="KEY:VALUE", help="Tag to put on the Data (repeatable).")
@click.option("-n", "--name", is_flag=True, help="Also tag name:<directory name>.")
@click.argument("sources", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
def push(tags: tuple[str, ...], name: bool, sources: tuple[Path, ...]) -> None:
    """Upload directories as new Data, tagged with -t and the knitenv's tags."""
    env_tags = load_knitenv(find_knitenv(Path.cwd())).tags
    all_tags = [str(t) for t in parse_user_tags([*tags, *env_tags], field="tag")]
    for source in sources:
        if not source.is_dir():
            raise InvalidInput(f"not a directory: {source}", field="SOURCE")
    with open_backend() as backend:
        for index, source in enumerate(sources, start=1):
            click.echo(f"[{index}/{len(sources)}] sending... {source}", err=True)
            pushed = backend.push_dir(source, all_tags, name=name)
            backend.after_write()
            click.echo(f"[{index}/{len(sources)}] [OK] done: {source} -> knit#id:{pushed['knitId']}", err=True)
            emit(pushed)


@data.command()
@click.option(
    "-t", "--tag", "tags", multiple=True, metavar="KEY:VALUE", help="Tag the Data must have (repeatable, AND)."
)
@click.option(
    "--transient", default="both", show_default=True, type=click.Choice(["both", "yes", "true", "no", "false"]),
    help="yes: only Data whose Run has not finished done; no: only Data ready to use.",
)  # fmt: skip
@click.option("--since", metavar="RFC3339", help="Only Data timestamped at or after this time.")
@click.option("--duration", metavar="DURATION", help="With --since: a window such as 2h or 30m.")
def find(tags: tuple[str, ...], transient: str, since: str | None, duration: str | None) -> None:
    """Find Data by tags (system tags such as knit#id:ID allowed)."""
    with open_backend() as backend:
        emit(backend.data.find(list(tags), transient=transient, since=since, duration=duration))


@data.command()
@click.option("-x", "--extract", is_flag=True, help="Extract into DEST/KNIT_ID/ instead of writing KNIT_ID.tar.gz.")
@click.argument("knit_id")
@click.argument("dest", default=".")
def pull(extract: bool, knit_id: str, dest: str) -> None:
    """Download a Data's content: DEST/KNIT_ID.tar.gz, -x to DEST/KNIT_ID/, or - for stdout."""
    if dest == "-" and extract:
        raise click.UsageError("cannot extract Data to stdout (-)")
    with open_backend() as backend:
        backend.data.show(knit_id)  # an unknown id fails before anything is written
        if dest == "-":
            backend.data.export_tar(knit_id, sys.stdout.buffer)
            return
        if extract:
            out = backend.data.extract(knit_id, Path(dest))
            click.echo(f"extracted knit#id:{knit_id} to {out}", err=True)
            return
        target = Path(dest) / f"{knit_id}.tar.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        try:
            with partial.open("wb") as out_file:
                backend.data.export_tar(knit_id, out_file)
            partial.rename(target)
        finally:
            partial.unlink(missing_ok=True)
        click.echo(f"saved knit#id:{knit_id} as {target}", err=True)


@data.command()
@click.option("--add", multiple=True, metavar="KEY:VALUE", help="Tag to add (repeatable).")
@click.option("--remove", multiple=True, metavar="KEY:VALUE", help="Tag to remove (repeatable).")
@click.option("--remove-key", multiple=True, metavar="KEY", help="Remove every tag with this key (repeatable).")
@click.argument("knit_id")
def tag(add: tuple[str, ...], remove: tuple[str, ...], remove_key: tuple[str, ...], knit_id: str) -> None:
    """Edit a Data's tags: removals first, then additions, all at once."""
    with open_backend() as backend:
        tagged = backend.data.tag(knit_id, add=add, remove=remove, remove_keys=remove_key)
        backend.after_write()
    emit(tagged)
