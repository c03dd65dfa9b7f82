"""Video Converter: every video of the input folder as an mp4 in the output folder.

An ``.mp4`` is copied as it is; any other video container OpenCV's FFmpeg can read (``.mov``, ``.avi``, ``.mkv``,
...) is re-encoded frame by frame as MPEG-4 part 2 in an mp4 container, keeping its frame rate and size. Other files
(the tutorial's mix holds photos too) are skipped. Only the folder's top level is read, as the tutorial lays it out.

    python3 /video_mp4_converter.py --input /pfs/raw_videos_and_images --output /pfs/out
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
DEFAULT_FPS = 25.0  # when a container does not say


class ConversionError(Exception):
    """A video that cannot be read or written."""


def convert(source: Path, target: Path) -> int:
    """Re-encode ``source`` as mp4 at ``target``; returns the number of frames written."""
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise ConversionError(f"{source}: OpenCV cannot open it as a video")
    fps = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    writer = None
    frames = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
                if not writer.isOpened():
                    raise ConversionError(f"{target}: OpenCV cannot write an mp4 here")
            writer.write(frame)
            frames += 1
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        raise ConversionError(f"{source}: no frame could be decoded")
    return frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert every video of a folder to mp4.")
    parser.add_argument("--input", type=Path, required=True, help="folder with the raw videos (and other files)")
    parser.add_argument("--output", type=Path, required=True, help="folder to write <name>.mp4 files into")
    args = parser.parse_args(argv)
    if not args.input.is_dir():
        raise SystemExit(f"--input {args.input}: not a directory")
    args.output.mkdir(parents=True, exist_ok=True)
    videos = sorted(p for p in args.input.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    by_name: dict[str, Path] = {}
    for video in videos:
        name = video.stem + ".mp4"
        if name in by_name:
            raise SystemExit(f"{video.name} and {by_name[name].name} would both become {name}: rename one")
        by_name[name] = video
    for name, video in by_name.items():
        if video.suffix.lower() == ".mp4":
            shutil.copyfile(video, args.output / name)
            print(f"{video.name}: already mp4, copied")
            continue
        try:
            frames = convert(video, args.output / name)
        except ConversionError as exc:
            raise SystemExit(str(exc)) from None
        print(f"{video.name}: converted to {name} ({frames} frames)")
    skipped = sum(1 for p in args.input.iterdir() if p.name not in {v.name for v in videos})
    print(f"{len(videos)} videos -> {args.output}; {skipped} other entries skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
