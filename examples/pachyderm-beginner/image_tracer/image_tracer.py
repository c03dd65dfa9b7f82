"""Edge Tracer: the Canny edges of every image of its input folders, stills and video frames alike.

Each ``--input`` folder is read at its top level (still images: ``liberty.png`` -> ``liberty_edges.png``) and one
level down (a video's frames: ``highway/frame_0003.jpg`` -> ``highway/frame_0003_edges.jpg``), so the output keeps
the inputs' layout. Edges are white on black, in the original's format. Two inputs writing the same output name
is an error rather than one silently replacing the other.

    python3 /image_tracer.py --input /pfs/raw_videos_and_images /pfs/image_flattener --output /pfs/out
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LOW, HIGH = 100, 200  # Canny's hysteresis thresholds, as in Pachyderm's tracer


def edges(image: np.ndarray) -> np.ndarray:
    """Canny edges of a BGR image, lightly blurred first so JPEG noise does not trace."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.Canny(cv2.GaussianBlur(grey, (3, 3), 0), LOW, HIGH)


def images_in(folder: Path) -> Iterator[Path]:
    """The images of ``folder`` (relative paths): its top level, then each sub-folder's, in name order."""
    entries = sorted(folder.iterdir())
    for entry in entries:
        if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            yield entry.relative_to(folder)
    for entry in entries:
        if entry.is_dir():
            for item in sorted(entry.iterdir()):
                if item.is_file() and item.suffix.lower() in IMAGE_SUFFIXES:
                    yield item.relative_to(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Trace the edges of every image and video frame.")
    parser.add_argument("--input", type=Path, nargs="+", required=True, help="folders of images / frame folders")
    parser.add_argument("--output", type=Path, required=True, help="folder to write <name>_edges.<ext> into")
    args = parser.parse_args(argv)
    for folder in args.input:
        if not folder.is_dir():
            raise SystemExit(f"--input {folder}: not a directory")
    args.output.mkdir(parents=True, exist_ok=True)
    written: dict[Path, Path] = {}
    for folder in args.input:
        count = 0
        for relative in images_in(folder):
            target = relative.with_name(f"{relative.stem}_edges{relative.suffix}")
            if target in written:
                raise SystemExit(f"{folder / relative} and {written[target]} would both be traced to {target}")
            image = cv2.imread(str(folder / relative), cv2.IMREAD_COLOR)
            if image is None:
                raise SystemExit(f"{folder / relative}: not an image OpenCV can read")
            (args.output / target).parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(args.output / target), edges(image)):
                raise SystemExit(f"{args.output / target}: could not be written")
            written[target] = folder / relative
            count += 1
        print(f"{folder}: {count} images traced")
    print(f"{len(written)} edge images in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
