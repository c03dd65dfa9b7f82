"""``knit admin``: keeping the Data store, the catalog and Airflow consistent, and the lifecycle hook calls
(beyond Knitfab)."""

from __future__ import annotations

import functools
from collections import Counter
from contextlib import ExitStack
from typing import Any

import click

from knit_provider.cli.app import emit, knit
from knit_provider.cli.backend import open_backend
from knit_provider.core.errors import InvalidInput


@knit.group()
def admin() -> None:
    """Administration: consistency of the Data store, the catalog and Airflow; lifecycle hook calls."""


def _doctor_of(backend: Any, stack: ExitStack):
    """The doctor where the store is: this machine's (local mode: Airflow's DagRuns asked through the Airflow the
    profile names, if any), or the api-server's (remote mode: it asks Airflow, and the pods with the kubernetes
    runner)."""
    client = getattr(backend, "client", None)
    if client is not None:
        return client.admin.doctor
    from knit_provider.cli.backend import airflow_endpoint
    from knit_provider.core.options import OPTIONS
    from knit_provider.service import doctor as doctor_service
    from knit_provider.service.consistency import Rules

    rules = Rules(float(OPTIONS["heartbeat_timeout"][0]), float(OPTIONS["reconcile_interval"][0]))
    not_checked = {"pods": "not in the local mode (the remote mode asks the api-server, which knows the runner)"}
    endpoint = airflow_endpoint()
    airflow = None
    if endpoint is None:
        not_checked["dagRuns"] = "no Airflow named (knit init --airflow URL, or KNIT_AIRFLOW_URL)"
    else:
        from knit_provider.airflow_client.inspect import AirflowDagRuns

        airflow = stack.enter_context(AirflowDagRuns(endpoint))
    return functools.partial(doctor_service.doctor, backend.knit, rules=rules, airflow=airflow, not_checked=not_checked)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


_NAMES = {
    "staging": ("orphaned staging directory", "orphaned staging directories"),
    "data": ("orphaned data directory", "orphaned data directories"),
    "purged": ("purged Data with bytes left", "purged Data with bytes left"),
    "lost-run": ("Run nobody runs", "Runs nobody runs"),
    "stray-dagrun": ("DagRun of a finished Run", "DagRuns of finished Runs"),
    "leftover-pod": ("pod of a finished Run", "pods of finished Runs"),
}
STORE_KINDS = ("staging", "data", "purged")


def summary(report: dict) -> str:
    """One line for stderr: what was found (or removed), by kind, and how much disk it holds."""
    findings = report["findings"]
    if not findings:
        unchecked = "".join(f"; {what} not checked: {why}" for what, why in (report.get("notChecked") or {}).items())
        return f"no inconsistency found (among what was untouched for {report['olderThan']}){unchecked}"
    kinds = Counter(f["kind"] for f in findings)
    names = _NAMES | {kind: (kind, kind) for kind in kinds if kind not in _NAMES}
    listed = ", ".join(f"{n} {names[kind][n > 1]}" for kind, n in kinds.items())
    unchecked = "".join(f"; {what} not checked: {why}" for what, why in (report.get("notChecked") or {}).items())
    store_bytes = sum(f.get("bytes", 0) for f in findings)
    if report["fixed"]:
        verb = "removed" if all(f["kind"] in STORE_KINDS for f in findings) else "fixed"
        return (
            f"{verb} {sum(bool(f['fixed']) for f in findings)}: {listed} ({_mib(report['reclaimedBytes'])} reclaimed)"
        )
    verb = "removes" if all(f["kind"] in STORE_KINDS for f in findings) else "repairs"
    return f"found {len(findings)}: {listed} ({_mib(store_bytes)}); --fix {verb} them{unchecked}"


@admin.command()
@click.option("--fix", is_flag=True, help="Remove what is found.")
@click.option(
    "--older-than", default="1h", show_default=True, metavar="DURATION",
    help="Only consider what was untouched (a Run finished) this long: an upload in flight is never touched.",
)  # fmt: skip
def doctor(fix: bool, older_than: str) -> None:
    """List what is inconsistent between the Data store, the catalog, Airflow's DagRuns and the pods; --fix
    repairs it.

    The store: staging directories of interrupted uploads, data directories no Data points to (a push killed
    between storing and registering), and bytes a purge killed half-way left behind. The Runs: Runs held in the
    catalog that nobody runs any more (concluded as the generator would), unfinished DagRuns of finished Runs (set
    failed), and with the kubernetes runner pods of finished Runs (deleted). Airflow is asked where it can be:
    through the Airflow the profile names (local mode), or by the api-server (remote mode, which also asks the
    cluster). JSON on stdout, a summary on stderr. Listing needs read access, --fix delete access. The generator
    removes the store's leftovers and concludes lost Runs by itself.
    """
    with open_backend() as backend, ExitStack() as stack:
        report = _doctor_of(backend, stack)(fix=fix, older_than=older_than)
    emit(report)
    click.echo(summary(report), err=True)


@admin.command("migrate-store")
@click.option("--to", "to_url", required=True, metavar="URL",
              help="The new Data store: s3://BUCKET/PREFIX, gs://..., abfs://..., or file:///DIR.")  # fmt: skip
@click.option("--options", "options_json", default="", metavar="JSON",
              help="fsspec options of the new store, without secrets (e.g. an endpoint_url).")  # fmt: skip
def migrate_store(to_url: str, options_json: str) -> None:
    """Copy every Data to another store, verified, then switch the deployment to it.

    Resumable: killed half way, nothing is lost (the old store is never changed) and running it again copies
    only what is missing. Once every Data is copied, the catalog records the new store, which every component
    uses from then on (the profile's data_store follows). Restart Airflow's components, then run it once more
    to copy what they wrote to the old store meanwhile. Runs where the catalog is (the local mode), with
    credentials for both stores (standard variables such as AWS_*).
    """
    from knit_provider.cli.backend import LocalBackend
    from knit_provider.service import StoreSpec, parse_store_options
    from knit_provider.service.migration import migrate_store as migrate

    options = parse_store_options(options_json, "--options")
    with open_backend() as backend:
        if not isinstance(backend, LocalBackend):
            raise InvalidInput(
                "migrate-store runs where the catalog is: use a local profile (--home or --catalog-url) on a "
                "machine that reaches both stores",
                field="migrate-store",
            )
        local = StoreSpec.from_env()
        target = StoreSpec(url=to_url, options=options, cache_dir=local.cache_dir, cache_size=local.cache_size)
        say = lambda line: click.echo(line, err=True)  # noqa: E731
        report = migrate(backend.knit, target.open(backend.knit.home), report=say)
    _follow_in_profile(report["to"])
    emit(report)
    click.echo(f"copied {report['copied']} of {report['data']} Data; the Data store is now {report['to']}", err=True)


def _follow_in_profile(url: str) -> None:
    """A profile that names a Data store now names the new one (the catalog's record wins either way)."""
    from dataclasses import replace
    from pathlib import Path

    from knit_provider.cli.profiles import PROFILE_FILE, active_profile, find_upward, save_profile

    found = active_profile(Path.cwd())
    if found is not None and found[1].data_store:
        marker = find_upward(Path.cwd().resolve(), PROFILE_FILE)
        save_profile(found[0], replace(found[1], data_store=url), marker.parent if marker else Path.cwd())


def _hooks_of(backend: Any):
    client = getattr(backend, "client", None)
    if client is not None:
        return client.admin.hooks
    from knit_provider.service import lifecycle_hooks

    return functools.partial(lifecycle_hooks.deliveries, backend.knit)


@admin.command()
@click.option(
    "--state", "states", multiple=True, type=click.Choice(["pending", "failed", "delivered"]),
    help="Which calls (repeat for several). Default: pending and failed.",
)  # fmt: skip
@click.option("--run", "run_id", metavar="RUN_ID", help="Only this Run's calls.")
def hooks(states: tuple[str, ...], run_id: str | None) -> None:
    """List the lifecycle hook calls still to be delivered, and those given up (beyond Knitfab).

    Each hooked status change of a Run is recorded in the catalog and POSTed to every URL of [knit] hooks at least
    once, in order per Run and URL, retried with backoff until it succeeds or expires (then it is "failed").
    JSON on stdout (URLs with credentials masked), a count on stderr.
    """
    with open_backend() as backend:
        found = _hooks_of(backend)(states=states or ("pending", "failed"), run_id=run_id)
    emit(found)
    counts = Counter(d["state"] for d in found)
    click.echo(", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no hook call listed", err=True)
