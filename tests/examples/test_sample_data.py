"""examples/datasets.py: the sample data is in the formats the programs read, deterministic, and split cleanly."""

from __future__ import annotations

import csv
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from example_helpers import EXAMPLES, read_idx, run
from PIL import Image


def test_qmnist_splits_parse_back_as_idx(samples: dict[str, Path]) -> None:
    sizes = {}
    for split in ("training", "validation"):
        magic, images = read_idx(samples[split] / "images.gz")
        assert magic == 0x00000803 and images.dtype == np.uint8 and images.shape[1:] == (28, 28)
        magic, labels = read_idx(samples[split] / "labels.gz")
        assert magic == 0x00000C02 and labels.shape == (len(images), 8), "QMNIST: idx2 int32 N x 8"
        assert set(np.unique(labels[:, 0])) == set(range(10))
        sizes[split] = len(images)
        # MNIST look: white digit on black, nothing in the 4-pixel border around the 20x20 box.
        assert images[:, :4, :].max() == 0 and images[:, :, -4:].max() == 0
        assert images.max() == 255 and images.mean() < 64
    assert sizes == {"training": 1397, "validation": 400}
    magic, labels = read_idx(samples["validation-idx1"] / "labels.gz")
    assert magic == 0x00000801 and labels.shape == (400,)
    assert np.array_equal(labels, read_idx(samples["validation"] / "labels.gz")[1][:, 0])


def test_splits_are_disjoint_and_deterministic(datasets: ModuleType, samples: dict[str, Path], tmp_path: Path) -> None:
    sources = {
        split: set(read_idx(samples[split] / "labels.gz")[1][:, 5].tolist()) for split in ("training", "validation")
    }
    assert not sources["training"] & sources["validation"]
    assert len(sources["training"] | sources["validation"]) == 1797
    datasets.write_qmnist(tmp_path, "validation")
    for name in ("images.gz", "labels.gz"):
        assert (tmp_path / name).read_bytes() == (samples["validation"] / name).read_bytes(), name


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_imagecsv_is_dark_on_light_in_its_schema(samples: dict[str, Path], version: str) -> None:
    root = samples[f"imagecsv-{version}"]
    rows = list(csv.reader((root / "labels.csv").open(newline="")))
    assert rows[0] == (["id", "label"] if version == "v1" else ["", "id", "label"])
    assert len(rows) == 201 and all(len(row) == len(rows[0]) for row in rows)
    if version == "v2":
        assert all(row[0] == "" for row in rows)
    assert {row[-1] for row in rows[1:]} == {str(d) for d in range(10)}
    sizes = set()
    for row in rows[1:]:
        with Image.open(root / "images" / f"{row[-2]}.png") as image:
            pixels = np.asarray(image.convert("L"))
        sizes.add(pixels.shape)
        assert pixels.mean() > 128 and pixels.min() < 100, "a dark digit on light paper"
    assert sizes == {(24, 24), (32, 32), (40, 40)}
    assert len(list((root / "images").iterdir())) == 200


def test_imagecsv_draws_from_the_training_split_only(datasets: ModuleType) -> None:
    training, validation = datasets.split_indices("training"), datasets.split_indices("validation")
    assert not set(training[:200].tolist()) & set(validation.tolist())
    with pytest.raises(ValueError, match="count"):
        datasets.write_imagecsv("unused", "v1", count=0)
    with pytest.raises(ValueError, match="schema"):
        datasets.write_imagecsv("unused", "v3")


def test_cli(tmp_path: Path) -> None:
    done = run(EXAMPLES, "datasets.py", "qmnist", "--split", "validation", tmp_path / "val")
    assert done.code == 0, done.stderr
    assert "samples=400" in done.stdout and read_idx(tmp_path / "val" / "images.gz")[1].shape == (400, 28, 28)
    done = run(EXAMPLES, "datasets.py", "imagecsv", "--version", "v2", "--count", "5", tmp_path / "csv")
    assert done.code == 0, done.stderr
    assert (tmp_path / "csv" / "labels.csv").read_text().splitlines()[:2] == [",id,label", ",digit-0000,1"]
    assert run(EXAMPLES, "datasets.py", "imagecsv", "--count", "0", tmp_path / "x").code == 2
