"""Example 4, migrating from direct DAG wiring, end to end through a real ``airflow standalone`` (process runner).

1. The classic pipeline: three DAGs chained by Assets (``classic/``): ingest -> train (and evaluate) -> report.
2. The same pipeline half-migrated (``migrated/``): the ingest DAG pushes Knit Data; training and evaluation are
   Plans that run by themselves; the report DAG is scheduled on ``KnitAsset(tags=["type:metrics", ...])``.
   A second batch then shows what Knit adds: a model for it, and an evaluation for every (model, dataset)
   combination, each once, with the ingest task as the lineage root.
Prints both reports, the Runs, the lineage SVG and where everything is. Exit status 1 if something did not happen.

    python examples/dag-wiring-migration/run_migration.py [--home .knit-wiring] [--no-keep]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.table import Table

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE.parent)]  # the quickstart's helpers

import quickstart  # noqa: E402  (examples/quickstart.py: the knit CLI wrapper, waiting for Runs)
from knit_dev.standalone import Standalone  # noqa: E402
from knit_dev.waiting import wait_until  # noqa: E402

from knit_provider.service import assets as service_assets  # noqa: E402
from knit_provider.service.assets import AssetSpec  # noqa: E402

PLANS = {"train": HERE / "migrated" / "plans" / "train.plan.yaml",
         "evaluate": HERE / "migrated" / "plans" / "evaluate.plan.yaml"}  # fmt: skip
DAG_FILES = [REPO / "dags" / "knit_dags.py", HERE / "classic" / "wiring_classic.py",
             HERE / "migrated" / "dags" / "wiring_knit.py"]  # fmt: skip
METRICS = AssetSpec.of(["type:metrics", "project:wiring"])
console = quickstart.console


class Migration(quickstart.Quickstart):
    def apply(self, name: str) -> None:
        import json

        self.plan_ids[name] = json.loads(self.cli("plan", "apply", str(PLANS[name])))["planId"]
        console.print(f"  applied plan [bold]{name}[/] ({self.plan_ids[name][:8]})")

    def trigger(self, dag_id: str, conf: dict) -> str:
        run = self.airflow.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        console.print(f"  triggered [bold]{dag_id}[/] {conf}")
        return run["dag_run_id"]

    def dag_succeeded(self, dag_id: str, run_id: str) -> bool:
        state = self.airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
        if state == "failed":
            raise SystemExit(f"{dag_id} {run_id} failed; see {self.airflow.airflow_home / 'logs'}")
        return state == "success"


def rows(report: Path) -> list[str]:
    return [line for line in report.read_text().splitlines() if line.startswith("| batch")] if report.exists() else []


def dags_folder(home: Path) -> Path:
    """The example's dags folder: Knit's DAG file and both pipelines' DAGs, linked from the checkout."""
    folder = home / "dags"
    folder.mkdir(parents=True, exist_ok=True)
    for path in DAG_FILES:
        (folder / path.name).symlink_to(path)
    return folder


def run_classic(m: Migration, wiring: Path) -> bool:
    console.rule("1. the classic pipeline: ingest -> train -> report, three DAGs chained by Assets")
    m.airflow.wait_for_dags(["wiring_classic_ingest", "wiring_classic_train", "wiring_classic_report"])
    m.trigger("wiring_classic_ingest", {"batch": 1})
    report = wiring / "report-classic.md"
    wait_until(lambda: len(rows(report)) >= 1, m.timeout, "the classic report")
    console.print(report.read_text())
    return len(rows(report)) == 1


def run_migrated(m: Migration, wiring: Path) -> bool:
    console.rule("2. half-migrated: ingest pushes Knit Data, training and evaluation are Plans")
    m.apply("train")
    m.apply("evaluate")
    m.airflow.wait_for_dags(["wiring_knit_ingest", "wiring_knit_report"])
    watched = lambda: METRICS.key in {w["asset_key"] for w in service_assets.watches(m.knit)}  # noqa: E731
    wait_until(watched, m.timeout, "the report DAG's KnitAsset watched")
    report = wiring / "report-knit.md"
    run_id = m.trigger("wiring_knit_ingest", {"batch": 1})
    wait_until(lambda: m.dag_succeeded("wiring_knit_ingest", run_id), m.timeout, "the ingest DAG")
    ok = m.wait_for({"train": 1, "evaluate": 1})
    wait_until(lambda: len(rows(report)) >= 1, m.timeout, "the report of the first evaluation")
    console.rule("a second batch: a model for it, an evaluation per (model, dataset) combination")
    run_id = m.trigger("wiring_knit_ingest", {"batch": 2})
    wait_until(lambda: m.dag_succeeded("wiring_knit_ingest", run_id), m.timeout, "the ingest DAG")
    ok = m.wait_for({"train": 2, "evaluate": 4}) and ok
    wait_until(lambda: len(rows(report)) >= 4, m.timeout, "the report of all four evaluations")
    time.sleep(2)  # a late duplicate would show up here
    console.print(report.read_text())
    return ok and len(rows(report)) == 4


def show_results(m: Migration, home: Path) -> None:
    table = Table(title="Knit Runs")
    for column in ("plan", "run", "status", "inputs"):
        table.add_column(column)
    for name in PLANS:
        for run in m.runs_of(name):
            table.add_row(name, run["runId"][:8], run["status"], ", ".join(i["knitId"][:8] for i in run["inputs"]))
    console.print(table)
    evaluations = [r for r in m.runs_of("evaluate") if r["status"] == "done"]
    if evaluations:
        lineage = home / "lineage-metrics.svg"
        metrics_id = evaluations[-1]["outputs"][0]["knitId"]
        m.cli("data", "lineage", "-n", "all", metrics_id, "--format", "svg", "-o", str(lineage))
        console.print(f"[bold]lineage[/] of a metrics Data (its roots are the ingest task): {lineage}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".knit-wiring"), help="knit home (wiped first)")
    parser.add_argument("--port", type=int, default=8080, help="the Airflow api-server port")
    parser.add_argument("--no-keep", action="store_true", help="stop Airflow at the end")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for each step")
    parser.add_argument("--stop", action="store_true", help="only stop an example left running")
    args = parser.parse_args(argv)
    home = args.home.resolve()
    wiring = home / "wiring"
    airflow = Standalone(
        knit_home=home, port=args.port, image_maps=[HERE / "migrated" / "images.yaml"],
        dags_folder=home / "dags", extra_env={"WIRING_DATA": str(wiring)},
    )  # fmt: skip
    if args.stop:
        airflow.stop()
        return 0
    airflow.stop()
    quickstart.shutil.rmtree(home, ignore_errors=True)
    dags_folder(home)
    console.rule("airflow standalone")
    airflow.start()
    m = Migration(airflow, args.timeout)
    try:
        ok = run_classic(m, wiring)
        ok = run_migrated(m, wiring) and ok
        console.rule("results")
        show_results(m, home)
    finally:
        m.knit.close()
        if args.no_keep:
            airflow.stop()
    console.print("[green]both pipelines ran; every Knit Run ended done[/]" if ok else "[red]something went wrong[/]")
    if not args.no_keep:
        console.rule("explore")
        console.print(f"Airflow UI: {airflow.url}  login: admin / {airflow.password()}  (Assets: the asset graph)")
        console.print(f"knit CLI:   export KNIT_HOME={home}; knit data find -t project:wiring")
        console.print("stop it:    bash scripts/dag-wiring-migration.sh --stop")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
