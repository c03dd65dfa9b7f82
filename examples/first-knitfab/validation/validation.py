"""Evaluate a trained digit classifier on a dataset in the QMNIST/MNIST idx layout (Knitfab's tutorial 2).

Knitfab's validation only prints the accuracy; this one prints it and, with ``--metrics-to DIR``, also writes
``metrics.json`` ``{"accuracy", "samples", "correct", "per_digit", "model"}`` so the figure becomes Data with
tags and lineage, which can be found and compared with ``knit data find -t type:metrics``.

The dataset layout is the trainer's (``images.gz`` idx3-ubyte; ``labels.gz`` MNIST idx1 or QMNIST idx2 N x 8);
the model is the trainer's ``model.npz`` (``--model`` takes the file or the directory holding it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import struct
import sys
from pathlib import Path

import numpy as np

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
WEIGHTS = ("w1", "b1", "w2", "b2")


class InputError(Exception):
    """The dataset or the model cannot be read."""


def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzip or plain) as an array of its declared type and shape."""
    if not path.is_file():
        raise InputError(f"{path}: missing (expected images.gz and labels.gz in the idx layout)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES:
        raise InputError(f"{path}: not an idx file (bad magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = struct.unpack_from(f">{ndim}I", raw, 4)
    data = np.frombuffer(raw, dtype=IDX_TYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise InputError(f"{path}: header says {shape}, the file holds {data.size} values")
    return data.reshape(shape)


def load_dataset(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(directory / "images.gz" if (directory / "images.gz").exists() else directory / "images")
    labels = read_idx(directory / "labels.gz" if (directory / "labels.gz").exists() else directory / "labels")
    if images.ndim != 3:
        raise InputError(f"images: expected N x H x W, got shape {images.shape}")
    digits = labels if labels.ndim == 1 else labels[:, 0] if labels.ndim == 2 else None
    if digits is None or len(digits) != len(images) or len(digits) == 0:
        raise InputError(f"labels of shape {labels.shape} do not match {len(images)} images")
    return images, digits.astype(np.int64)


def load_model(path: Path) -> tuple[dict[str, np.ndarray], dict[str, object], Path]:
    """(weights, model.json metadata or {}, the .npz path)."""
    file = path / "model.npz" if path.is_dir() else path
    try:
        with np.load(file, allow_pickle=False) as archive:
            params = {key: archive[key] for key in WEIGHTS}
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"{file}: not a model written by train.py ({exc})") from None
    meta_file = file.with_name("model.json")
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else {}
    return params, meta, file


def predict(params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    hidden = np.maximum(x @ params["w1"] + params["b1"], 0.0)
    return (hidden @ params["w2"] + params["b2"]).argmax(axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate a digit classifier on an idx (QMNIST/MNIST) dataset.")
    parser.add_argument("--dataset", type=Path, required=True, help="directory with images.gz and labels.gz")
    parser.add_argument("--model", type=Path, required=True, help="model.npz written by train.py, or its directory")
    parser.add_argument("--metrics-to", type=Path, help="directory for metrics.json (omit to print only)")
    args = parser.parse_args(argv)

    try:
        images, digits = load_dataset(args.dataset)
        params, meta, model_file = load_model(args.model)
    except InputError as exc:
        print(f"validation: {exc}", file=sys.stderr)
        return 2
    features = images.shape[1] * images.shape[2]
    if params["w1"].shape[0] != features:
        print(
            f"validation: the model takes {params['w1'].shape[0]} pixels, the images have {features}",
            file=sys.stderr,
        )
        return 2
    predicted = predict(params, images.reshape(len(images), -1).astype(np.float32) / 255.0)
    hits = predicted == digits
    accuracy = float(hits.mean())
    per_digit = {str(d): round(float(hits[digits == d].mean()), 4) for d in range(10) if (digits == d).any()}
    print(f"dataset {args.dataset}: {len(images)} images; model {model_file}")
    print(f"per digit: {per_digit}")
    print(f"accuracy: {accuracy:.4f} ({int(hits.sum())}/{len(hits)})")
    if args.metrics_to is not None:
        args.metrics_to.mkdir(parents=True, exist_ok=True)
        metrics = {
            "accuracy": accuracy,
            "samples": len(hits),
            "correct": int(hits.sum()),
            "per_digit": per_digit,
            "model": {"file": model_file.name, **meta},
        }
        (args.metrics_to / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.metrics_to / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
