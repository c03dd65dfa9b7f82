"""The preprocess tutorial's program: imagecsv (v1 / v2) -> the trainer's idx dataset, and the schema check."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from example_helpers import FIRST, PREPROCESS, read_idx, run
from PIL import Image


def preprocess(version: str, data: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    done = run(
        PREPROCESS / f"preprocess-{version}", "preprocess.py",
        "--data", data, "--save-to", out, "--schema", version, *extra,
    )  # fmt: skip
    return done.code, done.stdout, done.stderr


def test_both_images_ship_the_same_program() -> None:
    v1, v2 = (PREPROCESS / f"preprocess-{v}" / "preprocess.py" for v in ("v1", "v2"))
    assert v1.read_bytes() == v2.read_bytes(), "edit both copies: the images differ only by their CMD"


def test_v1_writes_an_inverted_repeated_dataset(samples: dict[str, Path], tmp_path: Path) -> None:
    code, stdout, stderr = preprocess("v1", samples["imagecsv-v1"], tmp_path / "train")
    assert code == 0, stderr
    assert "200 labelled images" in stdout and "wrote 1000 samples" in stdout
    magic, images = read_idx(tmp_path / "train" / "images.gz")
    assert magic == 0x00000803 and images.shape == (1000, 28, 28) and images.dtype == np.uint8
    magic, labels = read_idx(tmp_path / "train" / "labels.gz")
    assert magic == 0x00000801 and labels.shape == (1000,)

    rows = list(csv.reader((samples["imagecsv-v1"] / "labels.csv").open(newline="")))[1:]
    assert labels[:200].tolist() == [int(row[1]) for row in rows]
    assert np.array_equal(labels, np.resize(labels[:200], 1000)), "repeated in order"
    assert np.array_equal(images[200:400], images[:200])

    # Inverted: the source is dark on light paper, the dataset is white on black with an empty border.
    with Image.open(samples["imagecsv-v1"] / "images" / f"{rows[0][0]}.png") as source:
        assert np.asarray(source).mean() > 128
    assert images.mean() < 64 and images[:, :4, :].max() == 0 and images[:, :, :4].max() == 0
    assert images.max() > 200


def test_v2_reads_v2_into_the_same_dataset(samples: dict[str, Path], tmp_path: Path) -> None:
    assert preprocess("v1", samples["imagecsv-v1"], tmp_path / "one", "--samples", "450")[0] == 0
    code, stdout, stderr = preprocess("v2", samples["imagecsv-v2"], tmp_path / "two", "--samples", "450")
    assert code == 0, stderr
    assert "schema v2: ',id,label'" in stdout
    for name in ("images.gz", "labels.gz"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert read_idx(tmp_path / "two" / "labels.gz")[1].shape == (450,)


@pytest.mark.parametrize(("program", "data"), [("v1", "v2"), ("v2", "v1")])
def test_the_other_schema_is_refused(samples: dict[str, Path], tmp_path: Path, program: str, data: str) -> None:
    code, _, stderr = preprocess(program, samples[f"imagecsv-{data}"], tmp_path / "out")
    assert code != 0
    assert f"is schema {data}" in stderr and f"reads schema {program}" in stderr, stderr
    assert f"version:{data}.0" in stderr, "says which tag the data should have had"
    assert not (tmp_path / "out").exists(), "nothing written"


def _imagecsv(root: Path, source: Path, lines: list[str]) -> Path:
    shutil.copytree(source / "images", root / "images")
    (root / "labels.csv").write_text("".join(f"{line}\n" for line in lines))
    return root


def test_headerless_rows_are_checked_too(samples: dict[str, Path], tmp_path: Path) -> None:
    data = _imagecsv(tmp_path / "d", samples["imagecsv-v1"], [",digit-0000,1", ",digit-0001,6"])
    code, _, stderr = preprocess("v1", data, tmp_path / "out")
    assert code != 0 and "line 1" in stderr and "looks like schema v2" in stderr, stderr
    assert preprocess("v2", data, tmp_path / "out2", "--samples", "2")[0] == 0
    (data / "labels.csv").write_text("digit-0000,1\n")
    code, _, stderr = preprocess("v2", data, tmp_path / "out3")
    assert code != 0 and "does not fit schema v2" in stderr and "looks like schema v1" in stderr, stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("digit-0000,x", "not a single digit"),
        ("digit-0000,10", "not a single digit"),
        ("nope,3", "have no images/<id>.png"),
        ("../digit-0000,3", "not a plain file name"),
    ],
)
def test_bad_rows_are_refused(samples: dict[str, Path], tmp_path: Path, line: str, message: str) -> None:
    data = _imagecsv(tmp_path / "d", samples["imagecsv-v1"], ["id,label", line])
    code, _, stderr = preprocess("v1", data, tmp_path / "out")
    assert code != 0 and message in stderr, stderr


def test_preprocessed_data_trains_a_model_that_validates(samples: dict[str, Path], tmp_path: Path) -> None:
    assert preprocess("v2", samples["imagecsv-v2"], tmp_path / "train")[0] == 0
    done = run(FIRST / "train", "train.py", "--dataset", tmp_path / "train", "--save-to", tmp_path / "model")
    assert done.code == 0, done.stderr
    assert "1000 images 28x28, labels mnist-idx1" in done.stdout
    done = run(
        FIRST / "validation", "validation.py",
        "--dataset", samples["validation"], "--model", tmp_path / "model" / "model.npz", "--metrics-to", tmp_path / "m",
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["accuracy"] > 0.8
