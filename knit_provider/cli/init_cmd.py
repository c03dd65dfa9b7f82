"""``knit init PROFILE``: say which catalog this directory works against, or which Airflow it works through."""

from __future__ import annotations

from pathlib import Path

import click

from knit_provider.cli.app import knit
from knit_provider.cli.backend import check_airflow_url, is_remote
from knit_provider.cli.profiles import Profile, save_profile
from knit_provider.core.errors import InvalidInput
from knit_provider.service.context import catalog_location


@knit.command()
@click.option("--home", metavar="DIR", help="Knit home (catalog file and Data store); default $KNIT_HOME.")
@click.option("--catalog-url", metavar="URL", help="Catalog database URL (e.g. postgresql://...); default SQLite.")
@click.option("--airflow", "airflow_url", metavar="URL", help="Airflow's base URL, e.g. http://airflow:8080.")
@click.option("--username", metavar="NAME", help="Airflow user (with --password; traded for a token per command).")
@click.option("--password", metavar="PASSWORD", help="Airflow password.")
@click.option("--token", metavar="JWT", help="Airflow API token, instead of a user and password.")
@click.option(
    "--data-store", metavar="URL",
    help="Local mode: where Data live, s3://BUCKET/PREFIX (gs://, abfs://) or file:///DIR; default $KNIT_DATA_STORE, "
    "else HOME/data. Credentials come from the store's standard variables (AWS_*...).",
)  # fmt: skip
@click.argument("profile")
def init(
    home: str | None,
    catalog_url: str | None,
    airflow_url: str | None,
    username: str | None,
    password: str | None,
    token: str | None,
    data_store: str | None,
    profile: str,
) -> None:
    """Save PROFILE and make this directory (and those below) use it.

    \b
    Two modes:
      REMOTE  --airflow URL without --home and --catalog-url: every command goes through that
              Airflow's Knit REST API (/knit/api), as the given user (--username/--password) or token.
              Nothing is kept on this machine but the profile; the Airflow starts the Runs.
      LOCAL   --home and/or --catalog-url, or no --airflow at all ($KNIT_HOME): commands open that
              catalog here; init creates it (other commands refuse a catalog that does not exist).
              With --airflow too, each write starts the Runs it created through that Airflow's
              REST API at once (else Airflow's generator starts them a moment later).
    Output and exit codes are the same in both modes. Without a profile, KNIT_REMOTE_URL selects the
    remote mode (credentials from KNIT_AIRFLOW_TOKEN or KNIT_AIRFLOW_USERNAME/KNIT_AIRFLOW_PASSWORD).
    """
    if (username or password or token) and not airflow_url:
        raise click.UsageError("--username, --password and --token need --airflow URL")
    if bool(username) != bool(password):
        raise click.UsageError("--username and --password go together")
    if token and username:
        raise click.UsageError("give --token or --username/--password, not both")
    if airflow_url:
        try:
            airflow_url = check_airflow_url(airflow_url, "--airflow")
        except InvalidInput as err:
            raise click.BadParameter(str(err), param_hint="--airflow") from None
    home_path = str(Path(home).expanduser().resolve()) if home else None
    saved = Profile(
        home=home_path,
        catalog_url=catalog_url,
        airflow_url=airflow_url,
        airflow_username=username,
        airflow_password=password,
        airflow_token=token,
        data_store=data_store or None,
    )
    if data_store and is_remote(saved):
        raise click.UsageError("--data-store is for the local mode: a remote Airflow keeps Data in its own store")
    if not is_remote(saved):
        from knit_provider.service import Knit, StoreSpec

        spec = StoreSpec.from_env(url=data_store)
        with Knit.open(url=catalog_url, home=home_path, create=True, store=spec) as created:  # the CLI opens only
            where = catalog_location(created.engine.url.render_as_string(hide_password=False))  # existing ones
    store = save_profile(profile, saved, Path.cwd())
    mode = (
        f"remote: through {airflow_url}" if is_remote(saved) else f"local, catalog {where}, Data in {created.store.url}"
    )
    click.echo(f"profile {profile} is saved to {store} ({mode})", err=True)
