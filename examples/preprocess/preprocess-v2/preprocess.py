"""Turn labelled digit images into the trainer's idx dataset (the preprocess tutorial, images v1.0 and v2.0).

Input (``--data DIR``, what the labelling app writes):
  images/<id>.png   a dark digit on a light background, any size (greyscale, RGB or with alpha)
  labels.csv        schema v1: ``id,label`` lines; schema v2: ``,id,label`` (a leading empty column).
                    A header row (``id,label`` / ``,id,label``) is optional; the label is a digit 0-9.
Output (``--save-to DIR``), the layout first-knitfab's trainer reads:
  images.gz         gzip idx3-ubyte, N x 28 x 28: inverted (white digit on black) and fitted into a centred 20x20
                    box, as MNIST draws digits
  labels.gz         gzip idx1-ubyte, N digits

The labelled images are repeated in order until there are ``--samples`` of them (default 1000; the seed tutorial
padded its handful of images up to the 60000 samples of QMNIST's training split that its trainer expected).

The two images of the tutorial run this same program: v1.0 with ``--schema v1``, v2.0 with ``--schema v2`` (each
Dockerfile's CMD). A CSV in the other schema is refused with a message naming both schemas, so data pushed with the
wrong ``version:`` tag fails loudly instead of training on garbage.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIDE, BOX = 28, 20
SCHEMAS = {"v1": ["id", "label"], "v2": ["", "id", "label"]}


class PreprocessError(Exception):
    """The input does not fit the expected layout or schema."""


def _shape(row: list[str]) -> str:
    """The schema a row looks like, for the error message."""
    if len(row) == 3 and row[0].strip() == "":
        return " (it looks like schema v2: a leading empty column ',id,label')"
    if len(row) == 2:
        return " (it looks like schema v1: 'id,label')"
    return ""


def read_labels(csv_path: Path, schema: str) -> list[tuple[str, int]]:
    """(id, digit) pairs in file order; the last line wins for a repeated id."""
    expected = SCHEMAS[schema]
    other = next(name for name in SCHEMAS if name != schema)
    layout = ",".join(expected)
    if not csv_path.is_file():
        raise PreprocessError(f"{csv_path}: missing (expected labels.csv next to images/)")
    labels: dict[str, int] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        for row in reader:
            line = reader.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if line == 1 and cells == SCHEMAS[other]:
                raise PreprocessError(
                    f"{csv_path.name}: the header {','.join(cells)!r} is schema {other}, but this is the {schema} "
                    f"preprocess, which reads schema {schema} {layout!r}; tag the data version:{other}.0 instead"
                )
            if line == 1 and cells == expected:
                continue
            if len(cells) != len(expected) or (schema == "v2" and cells[0] != ""):
                raise PreprocessError(
                    f"{csv_path.name} line {line}: {','.join(row)!r} does not fit schema {schema} {layout!r}"
                    f"{_shape(cells)}"
                )
            image_id, label = cells[-2], cells[-1]
            if not re.fullmatch(r"[0-9]", label):
                raise PreprocessError(f"{csv_path.name} line {line}: label {label!r} is not a single digit 0-9")
            if not image_id or Path(image_id).name != image_id or image_id.startswith("."):
                raise PreprocessError(f"{csv_path.name} line {line}: id {image_id!r} is not a plain file name")
            if image_id in labels and labels[image_id] != int(label):
                print(f"note: {image_id} relabelled {labels[image_id]} -> {label} on line {line}")
            labels[image_id] = int(label)
    if not labels:
        raise PreprocessError(f"{csv_path.name}: no labelled images")
    return list(labels.items())


def to_sample(path: Path) -> np.ndarray:
    """A dark-on-light image of any size -> 28 x 28 uint8, inverted and centred in a 20 x 20 box."""
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGBA") if opened.mode in ("RGBA", "LA", "P") else opened.copy()
    except (OSError, ValueError) as exc:
        raise PreprocessError(f"{path.name}: cannot read the image ({exc})") from None
    if image.mode == "RGBA":  # transparent parts count as paper, not ink
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image)
    ink = Image.fromarray(255 - np.asarray(image.convert("L")))
    width, height = ink.size
    scale = BOX / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    fitted = np.asarray(ink.resize(size, Image.Resampling.BILINEAR))
    canvas = np.zeros((SIDE, SIDE), dtype=np.uint8)
    top, left = (SIDE - size[1]) // 2, (SIDE - size[0]) // 2
    canvas[top : top + size[1], left : left + size[0]] = fitted
    return canvas


def write_idx(path: Path, array: np.ndarray, code: int) -> None:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
        out.write(header + np.ascontiguousarray(array).tobytes())


def preprocess(data: Path, save_to: Path, schema: str, samples: int) -> dict[str, object]:
    labelled = read_labels(data / "labels.csv", schema)
    missing = [image_id for image_id, _ in labelled if not (data / "images" / f"{image_id}.png").is_file()]
    if missing:
        raise PreprocessError(f"{len(missing)} labelled ids have no images/<id>.png, e.g. {missing[:3]}")
    if samples < len(labelled):
        raise PreprocessError(f"--samples {samples} is fewer than the {len(labelled)} labelled images")
    images = np.stack([to_sample(data / "images" / f"{image_id}.png") for image_id, _ in labelled])
    digits = np.array([digit for _, digit in labelled], dtype=np.uint8)
    order = np.arange(samples) % len(labelled)  # repeated in order: sample i is labelled image i mod n
    save_to.mkdir(parents=True, exist_ok=True)
    write_idx(save_to / "images.gz", images[order], 0x08)
    write_idx(save_to / "labels.gz", digits[order], 0x08)
    return {"labelled": len(labelled), "samples": samples, "per_digit": np.bincount(digits, minlength=10).tolist()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Labelled digit images + labels.csv -> an idx training dataset.")
    parser.add_argument("--data", type=Path, required=True, help="directory with images/ and labels.csv")
    parser.add_argument("--save-to", type=Path, required=True, help="directory for images.gz and labels.gz")
    parser.add_argument("--schema", choices=sorted(SCHEMAS), required=True, help="v1: id,label  v2: ,id,label")
    parser.add_argument("--samples", type=int, default=1000, help="repeat the labelled images up to this count")
    args = parser.parse_args(argv)
    print(f"preprocess (labels.csv schema {args.schema}: {','.join(SCHEMAS[args.schema])!r}) {args.data}")
    try:
        summary = preprocess(args.data, args.save_to, args.schema, args.samples)
    except PreprocessError as exc:
        print(f"preprocess: {exc}", file=sys.stderr)
        return 1
    print(f"{summary['labelled']} labelled images, per digit {summary['per_digit']}")
    print(f"wrote {summary['samples']} samples (28x28, inverted) to {args.save_to}/images.gz and labels.gz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
