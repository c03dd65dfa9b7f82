"""The quickstart: examples 1 and 2 run through a real ``airflow standalone`` with the process runner.

1. first-knitfab: a training dataset and a validation dataset are pushed; training, then validation, run.
2. preprocess v1: labelled digit images + ``id,label`` CSV are pushed; preprocess v1 -> training -> validation.
3. the schema change: the v2 preprocess Plan is applied and v2 data (``,id,label``) pushed; only preprocess v2
   runs on it, then training and validation; the v1 chain is untouched.
Data are pushed and Plans applied with the ``knit`` CLI; Runs happen on their own. Prints progress, the Runs,
the validation accuracies, lineage SVG files, then the UI address and login. Exit status 1 if any expected
Run did not end done.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from knit_dev.standalone import Standalone
from rich.console import Console
from rich.table import Table

from knit_provider.core.layout import LOG_FILE
from knit_provider.service import Knit
from knit_provider.service import runs as service_runs

HERE = Path(__file__).resolve().parent
IMAGE_MAPS = [HERE / "first-knitfab" / "images.yaml", HERE / "preprocess" / "images.yaml"]
PLANS = {
    "train": HERE / "first-knitfab" / "plans" / "train.yaml",
    "validation": HERE / "first-knitfab" / "plans" / "validation.yaml",
    "preprocess-v1": HERE / "preprocess" / "plans" / "preprocess-v1.yaml",
    "preprocess-v2": HERE / "preprocess" / "plans" / "preprocess-v2.yaml",
}
PROJECT = ["project:first-knitfab"]
console = Console(highlight=False)


class Quickstart:
    def __init__(self, airflow: Standalone, timeout: float) -> None:
        self.airflow = airflow
        self.timeout = timeout
        self.plan_ids: dict[str, str] = {}
        self.knit = Knit.open(home=airflow.knit_home)

    def cli(self, *args: str) -> str:
        """Run ``knit`` exactly as a user would, against the quickstart's knit home."""
        env = self.airflow.env()  # the catalog, and the Airflow that starts each push's Runs at once
        env.update(KNIT_AIRFLOW_URL=self.airflow.url, KNIT_AIRFLOW_USERNAME="admin")
        env.update(KNIT_AIRFLOW_PASSWORD=self.airflow.password())
        done = subprocess.run(
            [str(Path(sys.executable).parent / "knit"), *args],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"knit {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def apply(self, name: str) -> None:
        self.plan_ids[name] = json.loads(self.cli("plan", "apply", str(PLANS[name])))["planId"]
        console.print(f"  applied plan [bold]{name}[/] ({self.plan_ids[name][:8]})")

    def push(self, folder: Path, *tags: str) -> str:
        args = ["data", "push"] + [a for tag in tags for a in ("-t", tag)] + [str(folder)]
        knit_id = json.loads(self.cli(*args))["knitId"]
        console.print(f"  pushed {folder.name} as {knit_id[:8]} [dim]{' '.join(tags)}[/]")
        return knit_id

    def runs_of(self, name: str) -> list[dict]:
        return service_runs.find(self.knit, plan_ids=[self.plan_ids[name]])

    def wait_for(self, expected: dict[str, int]) -> bool:
        """Until each Plan has its expected number of finished Runs and nothing is in flight; progress printed."""
        deadline = time.monotonic() + self.timeout
        last = None
        while time.monotonic() < deadline:
            runs = {name: self.runs_of(name) for name in self.plan_ids}
            counts = {name: Counter(r["status"] for r in found) for name, found in runs.items()}
            line = "  " + "  ".join(
                f"{name}: " + ",".join(f"{n} {s}" for s, n in sorted(c.items())) for name, c in counts.items() if c
            )
            if line != last:
                console.print(line, style="dim")
                last = line
            in_flight = any(s not in ("done", "failed", "invalidated") for c in counts.values() for s in c)
            finished = all(counts[name]["done"] + counts[name]["failed"] >= n for name, n in expected.items())
            failed = any(counts[name]["failed"] for name in expected)
            if not in_flight and (finished or failed):  # a failure stops the chain: nothing more will come
                return not failed
            time.sleep(1)
        console.print(f"[red]timed out after {self.timeout:.0f}s waiting for {expected}[/]")
        return False

    def read(self, knit_id: str, name: str) -> bytes:
        """A file of a Data, from whichever store holds it (a local directory or an object store)."""
        return self.knit.store.read_file(knit_id, name)


def make_samples(root: Path) -> dict[str, Path]:
    """Sample data generated offline from scikit-learn's bundled digits."""
    samples = {
        "qmnist-training": ["qmnist", "--split", "training"],
        "qmnist-validation": ["qmnist", "--split", "validation"],
        "imagecsv-v1": ["imagecsv", "--version", "v1"],
        "imagecsv-v2": ["imagecsv", "--version", "v2"],
    }
    out = {}
    for name, args in samples.items():
        out[name] = root / name
        subprocess.run([sys.executable, str(HERE / "datasets.py"), *args, str(out[name])], check=True)
    return out


def report(qs: Quickstart, out_dir: Path) -> None:
    table = Table(title="Runs")
    for column in ("run", "plan", "status", "inputs", "outputs", "exit"):
        table.add_column(column)
    plan_names = {plan_id: name for name, plan_id in qs.plan_ids.items()}
    for run in service_runs.find(qs.knit):
        name = plan_names.get(run["plan"]["planId"], run["plan"].get("name", "upload"))
        exit_info = run.get("exit") or {}
        table.add_row(
            run["runId"][:8],
            name,
            run["status"],
            " ".join(i["knitId"][:8] for i in run["inputs"]),
            " ".join(o["knitId"][:8] for o in run["outputs"]),
            f"{exit_info.get('code', '')} {exit_info.get('message', '')}".strip(),
        )
    console.print(table)
    console.print("[bold]Validation accuracy[/] (metrics.json of each validation Run):")
    for run in qs.runs_of("validation"):
        if run["status"] != "done":
            continue
        metrics = json.loads(qs.read(run["outputs"][0]["knitId"], "metrics.json"))
        model = next(i["knitId"] for i in run["inputs"] if i["path"] == "/in/model")
        console.print(f"  model {model[:8]}: accuracy [bold]{metrics['accuracy']:.3f}[/] on {metrics['samples']}")
    console.print("[bold]Lineage[/] (upstream of each validation's metrics):")
    for number, run in enumerate(qs.runs_of("validation"), start=1):
        if run["status"] != "done":
            continue
        svg = out_dir / f"lineage-{number}.svg"
        qs.cli("data", "lineage", run["outputs"][0]["knitId"], "-u", "-n", "all", "--format", "svg", "-o", str(svg))
        console.print(f"  {svg}")
    log_runs = [r for r in qs.runs_of("preprocess-v2") if r["log"]] if "preprocess-v2" in qs.plan_ids else []
    if log_runs:
        lines = qs.read(log_runs[0]["log"]["knitId"], LOG_FILE).decode(errors="replace").splitlines()
        console.print(f"[bold]A Run's log[/] (preprocess v2, knit run show --log {log_runs[0]['runId'][:8]}...):")
        console.print("\n".join(f"  {line}" for line in lines[-3:]), style="dim")


def start_fresh(airflow: Standalone) -> None:
    """Stop one left running from before, empty the knit home, start Airflow and wait until it is healthy."""
    airflow.stop()
    shutil.rmtree(airflow.knit_home, ignore_errors=True)
    airflow.knit_home.mkdir(parents=True)
    console.rule("airflow standalone")
    console.print(f"starting under {airflow.airflow_home} (log: {airflow.log_file}) ...")
    started = time.monotonic()
    airflow.start()
    console.print(f"healthy after {time.monotonic() - started:.0f}s at {airflow.url}")


def examples_2_and_3(qs: Quickstart, samples: dict[str, Path]) -> bool:
    console.rule("example 2: preprocess v1 -> training -> validation")
    qs.apply("preprocess-v1")
    qs.push(samples["imagecsv-v1"], "type:data", "format:imagecsv", "version:v1.0", *PROJECT)
    ok = qs.wait_for({"preprocess-v1": 1, "train": 2, "validation": 2})

    console.rule("the schema change: v2 data run only the v2 preprocess")
    qs.apply("preprocess-v2")
    qs.push(samples["imagecsv-v2"], "type:data", "format:imagecsv", "version:v2.0", *PROJECT)
    return qs.wait_for({"preprocess-v2": 1, "preprocess-v1": 1, "train": 3, "validation": 3}) and ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".knit-quickstart"), help="knit home (wiped first)")
    parser.add_argument("--port", type=int, default=8080, help="the Airflow api-server port")
    parser.add_argument("--no-keep", action="store_true", help="stop Airflow at the end")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for each phase")
    parser.add_argument("--stop", action="store_true", help="only stop a quickstart left running")
    parser.add_argument("--first-only", action="store_true", help="example 1 only (the Airflow version matrix)")
    parser.add_argument(
        "--data-store", default="", metavar="URL",
        help="keep the Data in an object store (s3://BUCKET/PREFIX), credentials from the AWS_* variables",
    )  # fmt: skip
    args = parser.parse_args(argv)
    home = args.home.resolve()
    options = {"data_store": args.data_store} if args.data_store else {}
    if args.data_store:
        os.environ["KNIT_DATA_STORE"] = args.data_store  # the knit CLI and this script: the same store
    airflow = Standalone(knit_home=home, port=args.port, image_maps=IMAGE_MAPS, knit_options=options)
    if args.stop:
        airflow.stop()
        return 0
    start_fresh(airflow)
    qs = Quickstart(airflow, args.timeout)
    ok = True
    try:
        samples = make_samples(home / "samples")
        console.rule("example 1: first-knitfab (training, then validation)")
        qs.apply("train")
        qs.apply("validation")
        qs.push(samples["qmnist-training"], "type:dataset", "mode:training", *PROJECT)
        qs.push(samples["qmnist-validation"], "type:dataset", "mode:validation", *PROJECT)
        ok &= qs.wait_for({"train": 1, "validation": 1})
        if not args.first_only:
            ok &= examples_2_and_3(qs, samples)

        console.rule("results")
        report(qs, home)
    finally:
        qs.knit.close()
        if args.no_keep:
            airflow.stop()
    verdict = "[green]every Run ended done[/]" if ok else "[red]some Runs did not end done[/]"
    console.print(verdict)
    if not args.no_keep:
        console.rule("explore")
        console.print(f"Airflow UI: {airflow.url}  login: admin / {airflow.password()}")
        console.print(f"knit CLI:   export KNIT_HOME={home}; knit run find")
        console.print(
            f"            (or, in a project folder: knit init quickstart --home {home} --airflow {airflow.url}"
            f" --username admin --password {airflow.password()})"
        )
        console.print("stop it:    bash scripts/quickstart.sh --stop")
    console.print(
        "next:       example 4, moving a DAG-wired pipeline to Knit one step at a time: "
        "bash scripts/dag-wiring-migration.sh (examples/dag-wiring-migration/, docs/migrating-from-dag-wiring.md)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
