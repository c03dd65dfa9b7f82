"""The pipeline's steps as plain functions, shared by the classic DAGs and the Knit Plans' programs.

ingest: a batch of sensor readings (offline, generated from the batch number); train: a linear model fitted by
least squares; evaluate: the model's error on a dataset; report: a Markdown table of every evaluation.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

WEIGHTS = np.array([2.0, -1.0, 0.5])


def ingest(batch: int, out_dir: Path, rows: int = 200) -> Path:
    """``data.csv`` with columns x1, x2, y (y = 2 x1 - x2 + 0.5 + noise), different for every batch."""
    rng = np.random.default_rng(batch)
    x = rng.normal(size=(rows, 2))
    y = x @ WEIGHTS[:2] + WEIGHTS[2] + rng.normal(scale=0.1 + 0.05 * batch, size=rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "data.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x1", "x2", "y"])
        writer.writerows(np.column_stack([x, y]).round(6).tolist())
    (out_dir / "batch.json").write_text(json.dumps({"batch": batch, "rows": rows}))
    return out_dir


def _load(dataset: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(dataset / "data.csv", delimiter=",", skiprows=1, ndmin=2)
    return table[:, :2], table[:, 2]


def train(dataset: Path, out_dir: Path) -> Path:
    """``model.json``: least-squares weights and bias, and which batch it learned from."""
    x, y = _load(dataset)
    design = np.column_stack([x, np.ones(len(x))])
    weights, *_ = np.linalg.lstsq(design, y, rcond=None)
    out_dir.mkdir(parents=True, exist_ok=True)
    batch = json.loads((dataset / "batch.json").read_text())["batch"]
    (out_dir / "model.json").write_text(json.dumps({"weights": weights.round(6).tolist(), "trained_on": batch}))
    print(f"trained on batch {batch}: weights {weights.round(3).tolist()}")
    return out_dir


def evaluate(model_dir: Path, dataset: Path, out_dir: Path) -> Path:
    """``metrics.json``: the model's RMSE on the dataset."""
    model = json.loads((model_dir / "model.json").read_text())
    x, y = _load(dataset)
    predicted = np.column_stack([x, np.ones(len(x))]) @ np.array(model["weights"])
    rmse = float(np.sqrt(np.mean((predicted - y) ** 2)))
    batch = json.loads((dataset / "batch.json").read_text())["batch"]
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = {"rmse": round(rmse, 6), "model_trained_on": model["trained_on"], "evaluated_on": batch}
    (out_dir / "metrics.json").write_text(json.dumps(metrics))
    print(f"model of batch {model['trained_on']} on batch {batch}: rmse {rmse:.4f}")
    return out_dir


def report(metrics_dirs: list[Path], out_file: Path, *, title: str) -> Path:
    """Append every evaluation to a Markdown report."""
    rows = [json.loads((d / "metrics.json").read_text()) for d in metrics_dirs]
    new = not out_file.exists()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("a") as f:
        if new:
            f.write(f"# {title}\n\n| model trained on | evaluated on | rmse |\n|---|---|---|\n")
        for m in rows:
            f.write(f"| batch {m['model_trained_on']} | batch {m['evaluated_on']} | {m['rmse']:.4f} |\n")
    return out_file
