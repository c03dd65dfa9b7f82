"""Shared fixtures for the example programs: sample data generated once per session, a model trained once."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from example_helpers import EXAMPLES, FIRST, Done, load_module, run


@pytest.fixture(scope="session")
def datasets() -> ModuleType:
    return load_module(EXAMPLES / "datasets.py", "knit_example_datasets")


@pytest.fixture(scope="session")
def samples(datasets: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """training / validation (QMNIST labels), validation-idx1, imagecsv-v1 / imagecsv-v2 (200 images each)."""
    root = tmp_path_factory.mktemp("samples")
    datasets.write_qmnist(root / "training", "training")
    datasets.write_qmnist(root / "validation", "validation")
    datasets.write_qmnist(root / "validation-idx1", "validation", labels_format="idx1")
    datasets.write_imagecsv(root / "imagecsv-v1", "v1")
    datasets.write_imagecsv(root / "imagecsv-v2", "v2")
    return {path.name: path for path in root.iterdir()}


@pytest.fixture(scope="session")
def trained(samples: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Done]:
    """A model trained once on the training split: (model directory, the run)."""
    model = tmp_path_factory.mktemp("model")
    done = run(FIRST / "train", "train.py", "--dataset", samples["training"], "--save-to", model)
    assert done.code == 0, done.stderr
    return model, done
