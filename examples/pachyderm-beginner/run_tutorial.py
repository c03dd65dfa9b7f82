"""The Pachyderm beginner tutorial, end to end through a real ``airflow standalone`` with the process runner.

As Knitfab's reproduction of it: the seven Plans in ``plans/`` are applied unchanged, the raw videos and images
are pushed as one Data (``-t format:mixed -t type:raw-dataset -n`` plus the ``knitenv`` project tag), and every
Plan runs by itself as its inputs appear: converter and extracter, flattener, tracer (images x frames), gif maker
(frames x edges), shuffler (gifs x images x edges), collager. Then the collage's ``index.html`` is pulled and the
plan graph and the lineage are rendered as SVG. Exit status 1 if any expected Run did not end done.

    python examples/pachyderm-beginner/run_tutorial.py [--home .knit-pachyderm] [--no-keep]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # sample_data beside us; the quickstart's helpers one level up

import quickstart  # noqa: E402  (examples/quickstart.py: the knit CLI wrapper, waiting for Runs)
import sample_data  # noqa: E402
from knit_dev.standalone import Standalone  # noqa: E402

from knit_provider.core.knitenv import load_knitenv  # noqa: E402
from knit_provider.service import data as service_data  # noqa: E402

IMAGE_MAP = HERE / "images.yaml"
# Plan name -> the Plans whose outputs it reads: the tutorial's graph, with Knitfab's extra image_extracter
UPSTREAM: dict[str, tuple[str, ...]] = {
    "video_converter": (),
    "image_extracter": (),
    "image_flattener": ("video_converter",),
    "image_tracer": ("image_extracter", "image_flattener"),
    "gif": ("image_flattener", "image_tracer"),
    "content_shuffler": ("gif", "image_extracter", "image_tracer"),
    "content_collager": ("content_shuffler",),
}
PLANS = {name: HERE / "plans" / f"{name}.plan.yaml" for name in UPSTREAM}
RAW_TAGS = ("format:mixed", "type:raw-dataset")
console = quickstart.console


class Tutorial(quickstart.Quickstart):
    """The quickstart's driver with this tutorial's Plans, and pushes tagged as the seed does."""

    def apply(self, name: str) -> None:
        self.plan_ids[name] = json.loads(self.cli("plan", "apply", str(PLANS[name])))["planId"]
        console.print(f"  applied plan [bold]{name}[/] ({self.plan_ids[name][:8]})")

    def push_named(self, folder: Path, *tags: str) -> str:
        """``knit data push -t ... -n FOLDER`` with the knitenv's tags, as run from this folder."""
        tags = (*tags, *load_knitenv(HERE / "knitenv").tags)
        args = ["data", "push", *(a for tag in tags for a in ("-t", tag)), "-n", str(folder)]
        knit_id = json.loads(self.cli(*args))["knitId"]
        console.print(f"  pushed {folder.name} as {knit_id[:8]} [dim]{' '.join(tags)} name:{folder.name}[/]")
        return knit_id

    def only_run(self, name: str) -> dict | None:
        found = self.runs_of(name)
        return found[0] if len(found) == 1 else None


def check_chain(tutorial: Tutorial) -> list[str]:
    """Problems with the chain: each Plan one done Run, reading exactly the outputs of its upstream Plans' Runs."""
    problems = []
    runs = {name: tutorial.only_run(name) for name in UPSTREAM}
    for name, run in runs.items():
        if run is None or run["status"] != "done":
            statuses = [r["status"] for r in tutorial.runs_of(name)]
            problems.append(f"{name}: expected one done Run, found {statuses or 'none'}")
            continue
        made_by = {
            o["knitId"]: upstream for upstream in UPSTREAM[name] if runs[upstream] for o in runs[upstream]["outputs"]
        }
        read_from = sorted(made_by.get(i["knitId"], "the upload") for i in run["inputs"])
        expected = sorted(UPSTREAM[name]) or ["the upload"]
        if read_from != expected:
            problems.append(f"{name}: read the outputs of {read_from}, expected {expected}")
    return problems


def report(tutorial: Tutorial, results: Path) -> Path | None:
    """Print the Runs in the order they finished, pull the collage, render the graphs; the index.html path."""
    table = Table(title="Runs, in the order they finished")
    for column in ("plan", "run", "status", "reads the outputs of", "finished (UTC)"):
        table.add_column(column)
    finished = []
    for name in UPSTREAM:
        for run in tutorial.runs_of(name):
            stamp = next((t for t in _tags(tutorial, run) if t.startswith("knit#timestamp:")), "")
            finished.append((stamp.partition(":")[2], name, run))
    for stamp, name, run in sorted(finished, key=lambda item: item[0]):
        upstream = ", ".join(UPSTREAM[name]) or "the upload"
        table.add_row(name, run["runId"][:8], run["status"], upstream, stamp[11:23])  # hh:mm:ss.mmm (UTC)
    console.print(table)
    collager = tutorial.only_run("content_collager")
    if collager is None or collager["status"] != "done":
        return None
    collage_id = collager["outputs"][0]["knitId"]
    tutorial.cli("data", "pull", "-x", collage_id, str(results))
    index = results / collage_id / "index.html"
    plan_svg, lineage_svg = results / "plan-graph.svg", results / "lineage.svg"
    tutorial.cli(
        "plan", "graph", "-n", "all", tutorial.plan_ids["content_collager"], "--format", "svg", "-o", str(plan_svg)
    )
    tutorial.cli("data", "lineage", "-n", "all", collage_id, "--format", "svg", "-o", str(lineage_svg))
    console.print(f"[bold]collage[/]    {index}  (file://{index})")
    console.print(f"[bold]plan graph[/] {plan_svg}")
    console.print(f"[bold]lineage[/]    {lineage_svg}")
    return index


def _tags(tutorial: Tutorial, run: dict) -> list[str]:
    if not run["outputs"]:
        return []
    return service_data.show(tutorial.knit, run["outputs"][0]["knitId"])["tags"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".knit-pachyderm"), help="knit home (wiped first)")
    parser.add_argument("--results", type=Path, help="where the collage and the graphs go (default HOME/results)")
    parser.add_argument("--port", type=int, default=8080, help="the Airflow api-server port")
    parser.add_argument("--no-keep", action="store_true", help="stop Airflow at the end")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the chain")
    parser.add_argument("--stop", action="store_true", help="only stop a tutorial left running")
    args = parser.parse_args(argv)
    home = args.home.resolve()
    results = (args.results or home / "results").resolve()
    airflow = Standalone(knit_home=home, port=args.port, image_maps=[IMAGE_MAP])
    if args.stop:
        airflow.stop()
        return 0
    quickstart.start_fresh(airflow)
    tutorial = Tutorial(airflow, args.timeout)
    try:
        console.rule("the seven Plans")
        for name in UPSTREAM:
            tutorial.apply(name)
        console.rule("the raw videos and images")
        raw = home / "samples" / sample_data.FOLDER
        sample_data.write_raw_dataset(raw)
        tutorial.push_named(raw, *RAW_TAGS)
        console.rule("the chain reaction")
        pushed = time.monotonic()
        ok = tutorial.wait_for(dict.fromkeys(UPSTREAM, 1))
        console.print(f"the chain settled {time.monotonic() - pushed:.0f}s after the push")
        problems = check_chain(tutorial)
        for problem in problems:
            console.print(f"[red]{problem}[/]")
        ok = ok and not problems
        console.rule("results")
        ok = report(tutorial, results) is not None and ok
    finally:
        tutorial.knit.close()
        if args.no_keep:
            airflow.stop()
    console.print("[green]every Run ended done[/]" if ok else "[red]some Runs did not end done[/]")
    if not args.no_keep:
        console.rule("explore")
        console.print(f"Airflow UI: {airflow.url}  login: admin / {airflow.password()}")
        console.print(f"knit CLI:   export KNIT_HOME={home}; knit run find")
        console.print("stop it:    bash scripts/pachyderm.sh --stop")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
