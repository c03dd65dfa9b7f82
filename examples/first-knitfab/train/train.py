"""Train a digit classifier on a dataset in the QMNIST/MNIST idx layout (Knitfab's getting started, tutorial 1).

Knitfab's trainer is a PyTorch CNN; this one is a one-hidden-layer perceptron in numpy, so the example runs on the
host's Python in seconds with no download and no GPU. What the Plan sees is the same: a dataset directory in,
a model directory out, progress on stdout (kept as the Run's log).

Dataset (``--dataset DIR``):
  images.gz  gzip idx3-ubyte, N x H x W uint8 (28 x 28 in the examples), ink high (white digit on black)
  labels.gz  gzip idx1-ubyte, N uint8 (MNIST), or idx2 int32 N x 8 (QMNIST: the digit is column 0)
Uncompressed files with the same names are accepted too.

Model (``--save-to DIR``): ``model.npz`` (weights: w1, b1, w2, b2) and ``model.json`` (shape, training figures).
"""

from __future__ import annotations

import argparse
import gzip
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DatasetError(Exception):
    """The dataset directory does not hold an idx dataset this program can read."""


def read_idx(path: Path) -> np.ndarray:
    """An idx file (gzip or plain) as an array of its declared type and shape."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing (expected images.gz and labels.gz in the idx layout)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES:
        raise DatasetError(f"{path}: not an idx file (bad magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = struct.unpack_from(f">{ndim}I", raw, 4)
    data = np.frombuffer(raw, dtype=IDX_TYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DatasetError(f"{path}: header says {shape}, the file holds {data.size} values")
    return data.reshape(shape)


def load_dataset(directory: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """(images N x H x W uint8, digits N int64, labels format) of a dataset directory."""
    images = read_idx(directory / "images.gz" if (directory / "images.gz").exists() else directory / "images")
    labels = read_idx(directory / "labels.gz" if (directory / "labels.gz").exists() else directory / "labels")
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(f"images: expected idx3-ubyte N x H x W, got {images.dtype} {images.shape}")
    if labels.ndim == 1:
        digits, layout = labels.astype(np.int64), "mnist-idx1"
    elif labels.ndim == 2 and labels.shape[1] >= 1:
        digits, layout = labels[:, 0].astype(np.int64), "qmnist-idx2"
    else:
        raise DatasetError(f"labels: expected idx1 (N) or QMNIST idx2 (N x 8), got shape {labels.shape}")
    if len(digits) != len(images):
        raise DatasetError(f"{len(images)} images but {len(digits)} labels")
    if len(digits) == 0 or digits.min() < 0 or digits.max() > 9:
        raise DatasetError("labels must be digits 0-9 and the dataset must not be empty")
    return images, digits, layout


def forward(params: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hidden activations, class probabilities) for a batch of flattened images scaled to [0, 1]."""
    hidden = np.maximum(x @ params["w1"] + params["b1"], 0.0)
    logits = hidden @ params["w2"] + params["b2"]
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return hidden, probs


def train(
    x: np.ndarray, y: np.ndarray, *, hidden: int, epochs: int, batch: int, lr: float, seed: int
) -> tuple[dict[str, np.ndarray], list[dict[str, float]]]:
    """Mini-batch Adam on cross-entropy; prints one line per epoch. Returns the weights and the epoch history."""
    rng = np.random.default_rng(seed)
    features = x.shape[1]
    params = {
        "w1": rng.normal(0.0, np.sqrt(2.0 / features), (features, hidden)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": rng.normal(0.0, np.sqrt(2.0 / hidden), (hidden, 10)).astype(np.float32),
        "b2": np.zeros(10, np.float32),
    }
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    beta1, beta2, step = 0.9, 0.999, 0
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x))
        total_loss, correct = 0.0, 0
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            xb, yb = x[idx], y[idx]
            h, probs = forward(params, xb)
            total_loss += float(-np.log(probs[np.arange(len(yb)), yb] + 1e-12).sum())
            correct += int((probs.argmax(axis=1) == yb).sum())
            delta = probs
            delta[np.arange(len(yb)), yb] -= 1.0
            delta /= len(yb)
            dh = (delta @ params["w2"].T) * (h > 0)
            grads = {"w2": h.T @ delta, "b2": delta.sum(0), "w1": xb.T @ dh, "b1": dh.sum(0)}
            step += 1
            for key, grad in grads.items():
                m, v = moments[key]
                m *= beta1
                m += (1 - beta1) * grad
                v *= beta2
                v += (1 - beta2) * grad * grad
                m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
                params[key] -= (lr * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32)
        record = {"epoch": epoch, "loss": total_loss / len(x), "train_accuracy": correct / len(x)}
        history.append(record)
        print(f"epoch {epoch}/{epochs}  loss {record['loss']:.4f}  train accuracy {record['train_accuracy']:.4f}")
    return params, history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train a digit classifier on an idx (QMNIST/MNIST) dataset.")
    parser.add_argument("--dataset", type=Path, required=True, help="directory with images.gz and labels.gz")
    parser.add_argument("--save-to", type=Path, required=True, help="directory for model.npz and model.json")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    started = time.monotonic()
    try:
        images, digits, layout = load_dataset(args.dataset)
    except DatasetError as exc:
        print(f"train: {args.dataset}: {exc}", file=sys.stderr)
        return 2
    counts = np.bincount(digits, minlength=10).tolist()
    print(f"dataset {args.dataset}: {len(images)} images {images.shape[1]}x{images.shape[2]}, labels {layout}")
    print(f"samples per digit: {counts}")
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    params, history = train(
        x, digits, hidden=args.hidden, epochs=args.epochs, batch=args.batch_size, lr=args.learning_rate, seed=args.seed
    )

    args.save_to.mkdir(parents=True, exist_ok=True)
    np.savez(args.save_to / "model.npz", **params)
    meta = {
        "model": "mlp",
        "input_shape": [int(images.shape[1]), int(images.shape[2])],
        "hidden": args.hidden,
        "classes": 10,
        "scale": "pixel / 255, ink high",
        "samples": len(images),
        "labels_format": layout,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "final_loss": round(history[-1]["loss"], 6),
        "train_accuracy": round(history[-1]["train_accuracy"], 6),
    }
    (args.save_to / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"saved {args.save_to / 'model.npz'} and model.json in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
