"""Frame Flattener: every mp4 video of the input folder as a folder of numbered JPEG frames.

``<video>.mp4`` -> ``<output>/<video>/frame_0000.jpg``, ``frame_0001.jpg``, ... (at least four digits, so the names
sort in frame order). Other files are skipped; only the input folder's top level is read.

    python3 /image_flattener.py --input /pfs/video_mp4_converter --output /pfs/out
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

JPEG_QUALITY = 90


def flatten(video: Path, folder: Path) -> int:
    """Write each frame of ``video`` into ``folder``; returns the frame count."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise SystemExit(f"{video}: OpenCV cannot open it as a video")
    folder.mkdir(parents=True, exist_ok=True)
    frames = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            target = folder / f"frame_{frames:04d}.jpg"
            if not cv2.imwrite(str(target), frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise SystemExit(f"{target}: could not be written")
            frames += 1
    finally:
        capture.release()
    if frames == 0:
        raise SystemExit(f"{video}: no frame could be decoded")
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Split every mp4 video of a folder into JPEG frames.")
    parser.add_argument("--input", type=Path, required=True, help="folder with <name>.mp4 videos")
    parser.add_argument("--output", type=Path, required=True, help="folder to write <name>/frame_NNNN.jpg into")
    args = parser.parse_args(argv)
    if not args.input.is_dir():
        raise SystemExit(f"--input {args.input}: not a directory")
    args.output.mkdir(parents=True, exist_ok=True)
    videos = sorted(p for p in args.input.iterdir() if p.is_file() and p.suffix.lower() == ".mp4")
    for video in videos:
        frames = flatten(video, args.output / video.stem)
        print(f"{video.name}: {frames} frames -> {video.stem}/")
    print(f"{len(videos)} videos flattened into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
