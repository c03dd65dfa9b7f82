"""Helpers for the example tests: paths, an independent idx reader, a subprocess runner.

The programs run as the process runner would run them (cwd at their build context, the venv's python), minus the
sandbox: these tests check the programs, the runner has its own.
"""

from __future__ import annotations

import gzip
import importlib.util
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FIRST = EXAMPLES / "first-knitfab"
PREPROCESS = EXAMPLES / "preprocess"


def load_module(path: Path, name: str) -> ModuleType:
    """Import a file that is not in a package (the examples are programs, not modules of ours)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def read_idx(path: Path) -> tuple[int, np.ndarray]:
    """(magic, array) of a gzip idx file, parsed independently of the programs' own readers."""
    raw = gzip.decompress(path.read_bytes())
    magic, ndim = struct.unpack_from(">I", raw)[0], raw[3]
    shape = struct.unpack_from(f">{ndim}I", raw, 4)
    dtype = {0x08: ">u1", 0x0C: ">i4"}[raw[2]]
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim)
    assert data.size == int(np.prod(shape)), "payload matches the header"
    return magic, data.reshape(shape)


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str


def run(context: Path, *argv: str | Path, timeout: float = 60) -> Done:
    """``python -u <argv>`` with cwd at a build context, as the image's WORKDIR would be."""
    proc = subprocess.run(
        [sys.executable, "-u", *map(str, argv)], cwd=context, capture_output=True, text=True, timeout=timeout
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)
