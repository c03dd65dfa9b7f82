"""``knit data``: push, find, pull, tag, lineage."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from knit_provider.cli.app import emit, knit
from knit_provider.cli.backend import LocalBackend, open_backend
from knit_provider.cli.explain_text import dry_run_summary
from knit_provider.cli.listing import emit_stream, newest
from knit_provider.cli.progress import byte_progress, tree_size
from knit_provider.cli.retention_opts import check_usage, report_where, selection_of, where_options
from knit_provider.core.errors import Conflict, InvalidInput
from knit_provider.core.knitenv import find_knitenv, load_knitenv
from knit_provider.core.purged import gone, is_purged
from knit_provider.core.tags import KEY_NAME, Tag, parse_user_tags


@knit.group()
def data() -> None:
    """Data: immutable, tagged directories."""


@data.command()
@click.option("-t", "--tag", "tags", multiple=True, metavar="KEY:VALUE", help="Tag to put on the Data (repeatable).")
@click.option("-n", "--name", is_flag=True, help="Also tag name:<directory name>.")
@click.option(
    "-L", "--dereference", is_flag=True,
    help="Store what symbolic links point to (files and directories, recursively) instead of the links.",
)  # fmt: skip
@click.option(
    "--dry-run", is_flag=True,
    help="Upload nothing: show the Runs Data with these tags would create (tags only; the content is not read).",
)  # fmt: skip
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
def push(tags: tuple[str, ...], name: bool, dereference: bool, dry_run: bool, sources: tuple[Path, ...]) -> None:
    """Upload directories as new Data, tagged with -t and the knitenv's tags.

    Symbolic links are stored as links, and one leading out of the directory is refused; with -L their targets
    are stored instead (a link that loops back into its own parents is refused).

    Several directories are pushed all or nothing: every one is checked before anything is sent, and if one
    fails, none of them is kept (and no Run is started for any of them).
    """
    env_tags = load_knitenv(find_knitenv(Path.cwd())).tags
    all_tags = [str(t) for t in parse_user_tags([*tags, *env_tags], field="tag")]
    for source in sources:
        _check_source(source)
        if name:  # the name tag obeys the tag rule: checked for every source before anything is sent
            Tag(KEY_NAME, source.resolve().name)
    count = len(sources)
    if dry_run:
        with open_backend() as backend:
            report = backend.previews.push(all_tags, names=[s.resolve().name if name else None for s in sources])
        emit(report)
        click.echo(f"knit: {dry_run_summary(report)}", err=True)
        return
    with open_backend() as backend:
        for index, source in enumerate(sources, start=1):
            click.echo(f"[{index}/{count}] sending... {source}", err=True)
        label = str(sources[0]) if count == 1 else f"{count} directories"
        with byte_progress(label, sum(tree_size(s) for s in sources)) as progress:
            pushed = backend.data.push_dirs(
                list(sources), all_tags, name=name, follow_links=dereference, progress=progress
            )
    for index, (source, one) in enumerate(zip(sources, pushed, strict=True), start=1):
        click.echo(f"[{index}/{count}] [OK] done: {source} -> knit#id:{one['knitId']}", err=True)
        emit(one)


def _check_source(source: Path) -> None:
    if not os.path.lexists(source):
        raise InvalidInput(f"no such directory: {source}", field="SOURCE")
    if not source.is_dir():
        raise InvalidInput(f"not a directory: {source}", field="SOURCE")


@data.command()
@click.option(
    "-t", "--tag", "tags", multiple=True, metavar="KEY:VALUE", help="Tag the Data must have (repeatable, AND)."
)
@click.option(
    "--transient", default="both", show_default=True,
    type=click.Choice(["both", "yes", "true", "no", "false", "purged"]),
    help="yes: only Data not ready to use (processing, failed or purged); no: only Data ready to use; "
    "purged: only purged Data.",
)  # fmt: skip
@click.option("--since", metavar="RFC3339", help="Only Data timestamped at or after this time.")
@click.option("--duration", metavar="DURATION", help="With --since: a window such as 2h or 30m.")
@click.option(
    "--limit", type=click.IntRange(min=1), metavar="N",
    help="Only the N newest, newest first (without it: all of them, oldest first, as Knitfab prints them).",
)  # fmt: skip
def find(tags: tuple[str, ...], transient: str, since: str | None, duration: str | None, limit: int | None) -> None:
    """Find Data by tags (system tags such as knit#id:ID allowed).

    The JSON array is printed as it is read, so a long list costs no more memory than a short one.
    """
    filters = {"transient": transient, "since": since, "duration": duration}
    with open_backend() as backend:
        if limit is None:
            emit_stream(backend.data.find_iter(list(tags), **filters))
        else:
            emit_stream(newest(backend.data.find_page, limit, tags=list(tags), **filters))


@data.command()
@click.option("-x", "--extract", is_flag=True, help="Extract into DEST/KNIT_ID/ instead of writing KNIT_ID.tar.gz.")
@click.option(
    "-f", "--force", is_flag=True, help="Overwrite an existing DEST/KNIT_ID.tar.gz (with -x: replace DEST/KNIT_ID/)."
)
@click.argument("knit_id")
@click.argument("dest", default=".")
def pull(extract: bool, force: bool, knit_id: str, dest: str) -> None:
    """Download a Data's content: DEST/KNIT_ID.tar.gz, -x to DEST/KNIT_ID/, or - for stdout.

    DEST is a directory (created when missing). What is already there is never overwritten without --force.
    """
    if dest == "-" and extract:
        raise click.UsageError("cannot extract Data to stdout (-)")
    with open_backend() as backend:
        if is_purged(backend.data.show(knit_id)["tags"]):  # an unknown or purged id fails before anything is written
            raise gone(knit_id)
        if dest == "-":
            backend.data.export_tar(knit_id, sys.stdout.buffer)
            return
        folder = Path(dest)
        target = folder / (knit_id if extract else f"{knit_id}.tar.gz")
        _check_destination(folder, target, force=force, extract=extract)
        # local: the content's bytes of a known total; remote: the bytes received (compressed: no total)
        total = backend.data.content_size(knit_id) if isinstance(backend, LocalBackend) else None
        try:
            with byte_progress(f"pulling {knit_id}", total) as progress:
                if extract:
                    out = backend.data.extract(knit_id, folder, replace=force, progress=progress)
                else:
                    _save_tar(backend, knit_id, target, progress)
            if extract:
                click.echo(f"extracted knit#id:{knit_id} to {out}", err=True)
                return
        except OSError as err:
            raise InvalidInput(f"cannot write {target}: {err.strerror or err}", field="DEST") from None
        click.echo(f"saved knit#id:{knit_id} as {target}", err=True)


def _check_destination(folder: Path, target: Path, *, force: bool, extract: bool) -> None:
    """DEST must be (or become) a directory; its KNIT_ID entry is kept unless --force."""
    if os.path.lexists(folder) and not folder.is_dir():
        raise InvalidInput(f"{folder} is not a directory", field="DEST")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvalidInput(f"cannot create {folder}: {err.strerror or err}", field="DEST") from None
    if os.path.lexists(target):
        if not force:
            raise Conflict(f"{target} already exists (--force {'replaces' if extract else 'overwrites'} it)")
        if not extract and target.is_dir():
            raise InvalidInput(f"{target} is a directory; --force only overwrites a file", field="DEST")


def _save_tar(backend, knit_id: str, target: Path, progress=None) -> None:
    """KNIT_ID.tar.gz written under a temporary name and renamed: never a half file under the real name."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as out_file:
            backend.data.export_tar(knit_id, out_file, progress=progress)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)


@data.command()
@click.option("--add", multiple=True, metavar="KEY:VALUE", help="Tag to add (repeatable).")
@click.option("--remove", multiple=True, metavar="KEY:VALUE", help="Tag to remove (repeatable).")
@click.option("--remove-key", multiple=True, metavar="KEY", help="Remove every tag with this key (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show the tags and the Runs the edit would make; write nothing.")
@click.argument("knit_id")
def tag(
    add: tuple[str, ...], remove: tuple[str, ...], remove_key: tuple[str, ...], dry_run: bool, knit_id: str
) -> None:
    """Edit a Data's tags: removals first, then additions, all at once."""
    with open_backend() as backend:
        if dry_run:
            report = backend.previews.tag(knit_id, add=add, remove=remove, remove_keys=remove_key)
            emit(report)
            click.echo(f"knit: {dry_run_summary(report)}", err=True)
            return
        tagged = backend.data.tag(knit_id, add=add, remove=remove, remove_keys=remove_key)
    emit(tagged)


@data.command()
@where_options
@click.argument("knit_id", required=False)
def purge(knit_id: str | None, where: bool, dry_run: bool, **options) -> None:
    """Delete a Data's content for good; its tags, its Run and its lineage stay (Knitfab 2.0).

    The Data is then tagged knit#transient:purged: it is never used by a new Run, cannot be pulled, and the Runs
    that used it cannot be retried. Refused while the Run that makes it or a Run that uses it has not finished,
    or while it is being downloaded. Purging a purged Data again changes nothing.

    With --where, the Data the options select go (retention, beyond Knitfab): e.g. --where -t type:model
    --keep-last 3 --per project keeps the 3 newest models of each project. Inputs of unfinished Runs never go.
    """
    check_usage(where, knit_id, options, dry_run)
    if where:
        with open_backend() as backend:
            report = backend.retention.purge_where(selection_of(options), dry_run=dry_run)
        report_where(report)
        return
    with open_backend() as backend:
        purged = backend.data.purge(knit_id)
    click.echo(f"Data is purged: knit#id:{knit_id}", err=True)
    emit(purged)
