"""Sample data for the first-knitfab and preprocess examples, generated offline and deterministically.

Everything comes from scikit-learn's bundled ``load_digits`` (1797 8x8 digits, no download), so the examples run
without network access and every machine builds byte-identical files:

- ``qmnist``: a dataset in the QMNIST/MNIST idx layout the trainer and the validation read: ``images.gz`` (gzip
  idx3-ubyte, N x 28 x 28, white digit on black as MNIST) and ``labels.gz`` (gzip; QMNIST's idx2 int32 N x 8 with
  the digit in column 0 by default, or MNIST's idx1-ubyte). ``training`` and ``validation`` are disjoint.
- ``imagecsv``: what the labelling app produces: ``images/<id>.png`` (dark digit on a light background, 24 to 40
  pixels square) and ``labels.csv`` in the v1 (``id,label``) or v2 (``,id,label``) schema. The images are drawn from
  the training split, so they never leak into the validation split.

CLI::

    python examples/datasets.py qmnist --split training OUT
    python examples/datasets.py imagecsv --version v2 [--count 200] OUT
"""

from __future__ import annotations

import argparse
import csv
import gzip
import struct
import sys
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

__all__ = ["VALIDATION_SIZE", "split_indices", "to_mnist", "write_idx", "write_imagecsv", "write_qmnist"]

SEED = 20240601
VALIDATION_SIZE = 400  # the remaining 1397 digits form the training split
SIDE, BOX = 28, 20  # MNIST: the digit is fitted into a 20x20 box centred on a 28x28 canvas
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}

Split = Literal["training", "validation"]
LabelsFormat = Literal["qmnist", "idx1"]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # imported late: only the generators need scikit-learn

    digits = load_digits()
    return digits.images, digits.target.astype(np.int32)


def split_indices(split: Split) -> np.ndarray:
    """Indices into ``load_digits`` for a split: one fixed permutation, so the splits never overlap."""
    order = np.random.default_rng(SEED).permutation(1797)
    if split == "validation":
        return np.sort(order[:VALIDATION_SIZE])
    if split == "training":
        return order[VALIDATION_SIZE:]
    raise ValueError(f"unknown split {split!r}: expected 'training' or 'validation'")


def _grey(image8: np.ndarray) -> Image.Image:
    """An 8x8 digit (0..16, ink high) as an 8-bit greyscale image, ink white."""
    return Image.fromarray(np.clip(np.rint(image8 * (255 / 16)), 0, 255).astype(np.uint8))


def to_mnist(images8: np.ndarray) -> np.ndarray:
    """8x8 digits -> uint8 N x 28 x 28 as MNIST draws them: upscaled into a 20x20 box, centred, white on black."""
    out = np.zeros((len(images8), SIDE, SIDE), dtype=np.uint8)
    offset = (SIDE - BOX) // 2
    for i, image8 in enumerate(images8):
        out[i, offset : offset + BOX, offset : offset + BOX] = np.asarray(
            _grey(image8).resize((BOX, BOX), Image.Resampling.BILINEAR)
        )
    return out


def write_idx(path: Path, array: np.ndarray) -> None:
    """The idx format (big-endian header: 0, 0, type code, ndim, then each dimension), gzip with mtime 0 so the
    bytes are reproducible."""
    array = np.ascontiguousarray(array)
    code = _IDX_CODES.get(array.dtype)
    if code is None:
        raise ValueError(f"idx writer supports uint8 and int32, not {array.dtype}")
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = array.astype(array.dtype.newbyteorder(">")).tobytes()
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
        out.write(header + payload)


def qmnist_labels(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """QMNIST's N x 8 int32 label table: column 0 the digit; here column 5 is the ``load_digits`` index (QMNIST's
    global NIST index) and the others are 0."""
    table = np.zeros((len(labels), 8), dtype=np.int32)
    table[:, 0] = labels
    table[:, 5] = sources
    return table


def write_qmnist(
    directory: Path | str, split: Split = "training", *, labels_format: LabelsFormat = "qmnist"
) -> dict[str, object]:
    """Write ``images.gz`` and ``labels.gz`` for ``split`` into ``directory``; returns a short summary."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    images8, targets = _digits()
    index = split_indices(split)
    write_idx(directory / "images.gz", to_mnist(images8[index]))
    if labels_format == "qmnist":
        write_idx(directory / "labels.gz", qmnist_labels(targets[index], index.astype(np.int32)))
    elif labels_format == "idx1":
        write_idx(directory / "labels.gz", targets[index].astype(np.uint8))
    else:
        raise ValueError(f"unknown labels format {labels_format!r}: expected 'qmnist' or 'idx1'")
    return {"split": split, "samples": len(index), "labels_format": labels_format, "directory": str(directory)}


def csv_row(version: str, image_id: str, label: str) -> list[str]:
    """One labels.csv row in a schema: v1 ``id,label``; v2 adds a leading empty column."""
    if version == "v1":
        return [image_id, label]
    if version == "v2":
        return ["", image_id, label]
    raise ValueError(f"unknown schema {version!r}: expected 'v1' or 'v2'")


def write_imagecsv(directory: Path | str, version: str = "v1", count: int = 200) -> dict[str, object]:
    """``images/<id>.png`` (dark on light, sizes 24/32/40 to show any size works) and ``labels.csv`` for the first
    ``count`` digits of the training split."""
    directory = Path(directory)
    csv_row(version, "", "")  # validates the version before anything is written
    training = split_indices("training")
    if not 0 < count <= len(training):
        raise ValueError(f"count must be between 1 and {len(training)}, got {count}")
    images8, targets = _digits()
    (directory / "images").mkdir(parents=True, exist_ok=True)
    with open(directory / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(csv_row(version, "id", "label"))
        for n, source in enumerate(training[:count]):
            image_id = f"digit-{n:04d}"
            size = (24, 32, 40)[n % 3]
            ink = _grey(images8[source]).resize((size, size), Image.Resampling.BILINEAR)
            Image.fromarray(255 - np.asarray(ink)).save(directory / "images" / f"{image_id}.png")
            writer.writerow(csv_row(version, image_id, str(int(targets[source]))))
    return {"version": version, "count": count, "directory": str(directory)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    qmnist = sub.add_parser("qmnist", help="a QMNIST-layout dataset (images.gz, labels.gz)")
    qmnist.add_argument("--split", choices=["training", "validation"], default="training")
    qmnist.add_argument("--labels-format", choices=["qmnist", "idx1"], default="qmnist")
    qmnist.add_argument("out", type=Path)
    imagecsv = sub.add_parser("imagecsv", help="labelled PNGs and labels.csv, as the labelling app writes them")
    imagecsv.add_argument("--version", choices=["v1", "v2"], default="v1")
    imagecsv.add_argument("--count", type=int, default=200)
    imagecsv.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.kind == "qmnist":
            summary = write_qmnist(args.out, args.split, labels_format=args.labels_format)
        else:
            summary = write_imagecsv(args.out, args.version, args.count)
    except ValueError as exc:
        parser.error(str(exc))
    print(" ".join(f"{key}={value}" for key, value in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
