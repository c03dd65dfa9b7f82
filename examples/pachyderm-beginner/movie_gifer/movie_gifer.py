"""Gif Maker: an animated gif per folder of video frames, for the frames and for their traced edges.

Each ``--input`` folder is searched one level down for folders of frames: ``<video>/frame_NNNN.jpg`` (from the
flattener) becomes ``<video>.gif``, ``<video>/frame_NNNN_edges.jpg`` (from the tracer) ``<video>_edges.gif``.
Frames are ordered by the number in their names. Files at the inputs' top level (the tracer's still images) are
not frames and are skipped. Like every GIF writer, Pillow merges a frame identical to the one before it.

    python3 /movie_gifer.py --input /pfs/image_flattener /pfs/image_tracer --output /pfs/out
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FRAME_MS = 100


def frame_order(path: Path) -> tuple[int, str]:
    """The last number in the name (frame_0012_edges -> 12), then the name, so 10 comes after 9."""
    numbers = re.findall(r"\d+", path.stem)
    return (int(numbers[-1]) if numbers else -1, path.name)


def make_gif(frames: list[Path], target: Path, frame_ms: int) -> None:
    images = []
    for frame in frames:
        with Image.open(frame) as opened:
            images.append(opened.convert("L" if opened.mode in ("L", "1") else "RGB"))
    images[0].save(target, save_all=True, append_images=images[1:], duration=frame_ms, loop=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make an animated gif of every folder of frames.")
    parser.add_argument("--input", type=Path, nargs="+", required=True, help="folders holding frame folders")
    parser.add_argument("--output", type=Path, required=True, help="folder to write <video>[_edges].gif into")
    parser.add_argument("--frame-ms", type=int, default=FRAME_MS, help=f"ms per frame ({FRAME_MS})")
    args = parser.parse_args(argv)
    for folder in args.input:
        if not folder.is_dir():
            raise SystemExit(f"--input {folder}: not a directory")
    args.output.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}
    for folder in args.input:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            frames = sorted(
                (p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES), key=frame_order
            )
            if not frames:
                continue
            edges = all(f.stem.endswith("_edges") for f in frames)
            name = f"{sub.name}_edges.gif" if edges else f"{sub.name}.gif"
            if name in made:
                raise SystemExit(f"{sub} and {made[name]} would both become {name}")
            make_gif(frames, args.output / name, args.frame_ms)
            made[name] = sub
            print(f"{sub}: {len(frames)} frames -> {name}")
    print(f"{len(made)} gifs in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
