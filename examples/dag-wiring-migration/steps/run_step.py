"""A Plan's program: ``python run_step.py train`` or ``evaluate``, reading and writing the Plan's mount paths."""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline import evaluate, train

if __name__ == "__main__":
    step = sys.argv[1]
    if step == "train":
        train(Path("/in/dataset"), Path("/out/model"))
    elif step == "evaluate":
        evaluate(Path("/in/model"), Path("/in/dataset"), Path("/out/metrics"))
    else:
        sys.exit(f"unknown step {step!r} (train or evaluate)")
