"""``knit init PROFILE``: say which catalog this directory works against."""

from __future__ import annotations

from pathlib import Path

import click

from knit_provider.cli.app import knit
from knit_provider.cli.profiles import Profile, save_profile


@knit.command()
@click.option("--home", metavar="DIR", help="Knit home (catalog file and Data store); default $KNIT_HOME.")
@click.option("--catalog-url", metavar="URL", help="Catalog database URL (e.g. postgresql://...); default SQLite.")
@click.argument("profile")
def init(home: str | None, catalog_url: str | None, profile: str) -> None:
    """Save PROFILE and make this directory (and those below) use it."""
    home_path = str(Path(home).expanduser().resolve()) if home else None
    store = save_profile(profile, Profile(home=home_path, catalog_url=catalog_url), Path.cwd())
    click.echo(f"profile {profile} is saved to {store}", err=True)
