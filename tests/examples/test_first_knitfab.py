"""first-knitfab's trainer and validation, run as programs on the generated QMNIST-layout splits."""

from __future__ import annotations

import json
import re
from pathlib import Path

from example_helpers import FIRST, Done, run


def test_training_learns_and_saves_the_model(trained: tuple[Path, Done]) -> None:
    model, done = trained
    assert "1397 images 28x28, labels qmnist-idx2" in done.stdout
    epochs = re.findall(r"^epoch (\d+)/15  loss ([\d.]+)  train accuracy ([\d.]+)$", done.stdout, re.MULTILINE)
    assert [int(e[0]) for e in epochs] == list(range(1, 16)), done.stdout
    assert float(epochs[-1][1]) < float(epochs[0][1]) / 4, "the loss falls"
    assert float(epochs[-1][2]) > 0.9
    meta = json.loads((model / "model.json").read_text())
    assert meta["input_shape"] == [28, 28] and meta["samples"] == 1397 and meta["classes"] == 10
    assert {p.name for p in model.iterdir()} == {"model.npz", "model.json"}


def test_validation_writes_metrics_above_chance(
    trained: tuple[Path, Done], samples: dict[str, Path], tmp_path: Path
) -> None:
    model, _ = trained
    done = run(
        FIRST / "validation", "validation.py",
        "--dataset", samples["validation"], "--model", model / "model.npz", "--metrics-to", tmp_path / "metrics",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    metrics = json.loads((tmp_path / "metrics" / "metrics.json").read_text())
    assert metrics["samples"] == 400 and metrics["accuracy"] > 0.8
    assert metrics["correct"] == round(metrics["accuracy"] * 400)
    assert metrics["model"]["file"] == "model.npz" and metrics["model"]["samples"] == 1397
    assert set(metrics["per_digit"]) == {str(d) for d in range(10)}
    assert f"accuracy: {metrics['accuracy']:.4f} ({metrics['correct']}/400)" in done.stdout

    # MNIST idx1 labels read the same; --model takes the directory too; without --metrics-to it only prints.
    again = run(FIRST / "validation", "validation.py", "--dataset", samples["validation-idx1"], "--model", model)
    assert again.code == 0, again.stderr
    assert f"accuracy: {metrics['accuracy']:.4f}" in again.stdout


def test_bad_inputs_fail_with_a_message(trained: tuple[Path, Done], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = run(FIRST / "train", "train.py", "--dataset", tmp_path / "empty", "--save-to", tmp_path / "model")
    assert done.code != 0 and "images.gz" in done.stderr and "missing" in done.stderr
    assert not (tmp_path / "model").exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "images.gz").write_bytes(b"not idx")
    (tmp_path / "bad" / "labels.gz").write_bytes(b"not idx")
    done = run(FIRST / "validation", "validation.py", "--dataset", tmp_path / "bad", "--model", trained[0])
    assert done.code != 0 and "not an idx file" in done.stderr
