"""A tour of the catalog on the embedded default (SQLite under $KNIT_HOME): Knitfab's semantics without Airflow.

Pushes a training and a validation dataset, applies the first-knitfab training and validation Plans, and
plays the runner by hand (the Airflow runners replace this step) so the chain reaction is visible:
a Run per new combination, outputs nominated downstream only when done, and never a combination twice.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from knit_provider.service import Knit, data, execution, plans, runs

TRAIN = """
image: "localhost:30503/knitfab-first-train:v1.0"
inputs:
  - path: "/in/dataset"
    tags: ["type:dataset", "project:first-knitfab", "mode:training"]
outputs:
  - path: "/out/model"
    tags: ["type:model", "project:first-knitfab"]
log:
  tags: ["type:log", "project:first-knitfab"]
"""
VALIDATE = """
image: "localhost:30503/knitfab-first-validation:v1.0"
inputs:
  - path: "/in/dataset"
    tags: ["type:dataset", "project:first-knitfab", "mode:validation"]
  - path: "/in/model"
    tags: ["type:model", "project:first-knitfab"]
outputs:
  - path: "/out/metrics"
    tags: ["type:metrics", "project:first-knitfab"]
"""
console = Console(stderr=False)


def play_runner(knit: Knit, run: dict, files: dict[str, str]) -> dict:
    """What a Run's task does (``service.execution``): start the attempt, report the program running, let it
    write its outputs, conclude with its exit."""
    assignment = execution.start_attempt(knit, run["runId"])
    execution.started(knit, run["runId"])
    for output in assignment.outputs:
        for name, content in files.items():
            (output.host_dir / name).write_text(content)
    execution.conclude(knit, run["runId"], exit_code=0, message="")
    return runs.show(knit, run["runId"])


def show_runs(knit: Knit, title: str) -> None:
    table = Table(title=title)
    for column in ("run", "status", "plan", "inputs"):
        table.add_column(column)
    for run in runs.find(knit):
        plan = run["plan"].get("image") or run["plan"].get("name")
        table.add_row(run["runId"][:8], run["status"], plan, ", ".join(i["knitId"][:8] for i in run["inputs"]))
    console.print(table)


def main() -> int:
    knit = Knit.open()
    console.print(f"catalog: {knit.engine.url}  data store: {knit.home / 'data'}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("training", "validation"):
            folder = Path(tmp) / f"qmnist-{mode}"
            folder.mkdir()
            (folder / "labels.csv").write_text("id,label\n0,7\n1,2\n")
            pushed = data.push_dir(knit, folder, ["type:dataset", "project:first-knitfab", f"mode:{mode}"], name=True)
            console.print(f"pushed {folder.name} -> knit#id:{pushed['knitId']}")
    train = plans.apply(knit, TRAIN)
    validate = plans.apply(knit, VALIDATE)
    console.print(f"applied plans {train['planId'][:8]} (train) and {validate['planId'][:8]} (validate)")
    show_runs(knit, "after applying: one training Run waits; validation needs a model")
    (training_run,) = runs.find(knit, plan_ids=[train["planId"]])
    play_runner(knit, training_run, {"model.txt": "weights"})
    show_runs(knit, "training done: its model fills /in/model, so validation Runs by itself")
    (validation_run,) = runs.find(knit, plan_ids=[validate["planId"]])
    done = play_runner(knit, validation_run, {"metrics.json": '{"accuracy": 0.9}'})
    show_runs(knit, "validation done")
    metrics = done["outputs"][0]["knitId"]
    console.print(f"metrics Data {metrics}: {knit.store.read_file(metrics, 'metrics.json').decode()}")
    ok = all(r["status"] == "done" for r in runs.find(knit))
    console.print("all Runs done" if ok else "some Run did not finish done")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
