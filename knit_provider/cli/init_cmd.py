"""``knit init PROFILE``: say which catalog this directory works against, and which Airflow runs its Runs."""

from __future__ import annotations

from pathlib import Path

import click

from knit_provider.cli.app import knit
from knit_provider.cli.profiles import Profile, save_profile


@knit.command()
@click.option("--home", metavar="DIR", help="Knit home (catalog file and Data store); default $KNIT_HOME.")
@click.option("--catalog-url", metavar="URL", help="Catalog database URL (e.g. postgresql://...); default SQLite.")
@click.option("--airflow", "airflow_url", metavar="URL", help="Airflow's URL: writes start their Runs at once.")
@click.option("--username", metavar="NAME", help="Airflow user (with --password; traded for a token per command).")
@click.option("--password", metavar="PASSWORD", help="Airflow password.")
@click.option("--token", metavar="JWT", help="Airflow API token, instead of a user and password.")
@click.argument("profile")
def init(
    home: str | None,
    catalog_url: str | None,
    airflow_url: str | None,
    username: str | None,
    password: str | None,
    token: str | None,
    profile: str,
) -> None:
    """Save PROFILE and make this directory (and those below) use it."""
    if (username or password or token) and not airflow_url:
        raise click.UsageError("--username, --password and --token need --airflow URL")
    if bool(username) != bool(password):
        raise click.UsageError("--username and --password go together")
    home_path = str(Path(home).expanduser().resolve()) if home else None
    saved = Profile(
        home=home_path,
        catalog_url=catalog_url,
        airflow_url=airflow_url,
        airflow_username=username,
        airflow_password=password,
        airflow_token=token,
    )
    store = save_profile(profile, saved, Path.cwd())
    click.echo(f"profile {profile} is saved to {store}", err=True)
