"""Sample data for the Pachyderm beginner tutorial, drawn offline and deterministically with OpenCV.

The tutorial downloads two photos and two videos; this draws stand-ins of the same kinds, small enough that the
whole chain runs in seconds on a laptop and with no network:

- ``liberty.png`` and ``robot.jpg``: still images (a statue under a starry sky; a robot's head);
- ``cat-sleeping.mov`` (MPEG-4 part 2 in a QuickTime container) and ``highway.avi`` (Motion JPEG in an AVI
  container): short videos with shapes moving in every frame, so every frame (and its edges) differs.

CLI::

    python examples/pachyderm-beginner/sample_data.py [DEST]     # default ./raw_videos_and_images

The folder's name matters: ``knit data push -n`` tags it ``name:raw_videos_and_images``, which the video converter
Plan asks for, as in the tutorial.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

__all__ = ["FOLDER", "IMAGES", "VIDEOS", "write_raw_dataset"]

FOLDER = "raw_videos_and_images"
IMAGES = ("liberty.png", "robot.jpg")
# name -> (fourcc, frames, fps, (width, height))
VIDEOS: dict[str, tuple[str, int, float, tuple[int, int]]] = {
    "cat-sleeping.mov": ("mp4v", 24, 12.0, (128, 96)),
    "highway.avi": ("MJPG", 30, 15.0, (128, 96)),
}


def _liberty() -> np.ndarray:
    """A green statue with a raised torch in front of a night-blue gradient with stars."""
    height, width = 150, 200
    sky = np.linspace(40, 140, height, dtype=np.float32)[:, None].repeat(width, axis=1)
    image = np.dstack([sky + 60, sky * 0.6, sky * 0.3]).clip(0, 255).astype(np.uint8)  # BGR: blue on top
    for x, y in ((20, 20), (60, 35), (170, 25), (150, 60), (35, 70), (185, 95)):
        cv2.drawMarker(image, (x, y), (255, 255, 255), cv2.MARKER_STAR, 8, 1)
    cv2.rectangle(image, (70, 125), (130, 150), (90, 90, 90), -1)  # pedestal
    body = np.array([[85, 125], [115, 125], [108, 60], [92, 60]], np.int32)
    cv2.fillPoly(image, [body], (110, 160, 90))
    cv2.circle(image, (100, 50), 10, (110, 160, 90), -1)  # head
    cv2.line(image, (108, 70), (128, 30), (110, 160, 90), 5)  # raised arm
    cv2.circle(image, (130, 24), 6, (0, 200, 255), -1)  # the torch's flame
    return image


def _robot() -> np.ndarray:
    """A robot's head: a grey box with round eyes, a mouth grille and an antenna, on a light background."""
    image = np.full((160, 160, 3), (225, 235, 240), np.uint8)
    cv2.rectangle(image, (35, 45), (125, 130), (150, 150, 150), -1)
    cv2.rectangle(image, (35, 45), (125, 130), (60, 60, 60), 2)
    for x in (60, 100):
        cv2.circle(image, (x, 75), 12, (255, 255, 255), -1)
        cv2.circle(image, (x, 75), 5, (200, 80, 0), -1)
    for x in range(55, 110, 10):
        cv2.line(image, (x, 100), (x, 118), (40, 40, 40), 2)
    cv2.line(image, (80, 45), (80, 20), (60, 60, 60), 3)
    cv2.circle(image, (80, 16), 6, (0, 0, 220), -1)
    return image


def _cat_frame(index: int, frames: int, size: tuple[int, int]) -> np.ndarray:
    """A sleeping cat (an ellipse breathing) and a ball rolling past it, on a dark blue floor."""
    width, height = size
    frame = np.full((height, width, 3), (90, 40, 20), np.uint8)
    breath = 3 * np.sin(2 * np.pi * index / 8)
    cv2.ellipse(frame, (44, 62), (30, int(16 + breath)), 0, 0, 360, (80, 160, 230), -1)  # body, orange
    cv2.circle(frame, (20, 50), 11, (80, 160, 230), -1)  # head
    x = 10 + int((width - 20) * index / max(frames - 1, 1))
    cv2.circle(frame, (x, 20), 8, (255, 255, 255), -1)  # the ball
    return frame


def _highway_frame(index: int, frames: int, size: tuple[int, int]) -> np.ndarray:
    """A two-lane road seen from above: lane markings scrolling, a yellow and a light blue car at two speeds."""
    width, height = size
    frame = np.full((height, width, 3), (60, 60, 60), np.uint8)
    frame[:, :10] = frame[:, width - 10 :] = (60, 140, 60)  # verges
    for y in range(-20, height + 20, 20):  # dashes move 4 pixels a frame
        top = y + (index * 4) % 20
        cv2.rectangle(frame, (width // 2 - 2, top), (width // 2 + 2, top + 10), (255, 255, 255), -1)
    for lane_x, speed, colour in ((34, 5, (0, 210, 255)), (88, 3, (255, 200, 120))):
        y = height - (index * speed) % (height + 30)
        cv2.rectangle(frame, (lane_x - 9, y), (lane_x + 9, y + 26), colour, -1)
    return frame


DRAW: dict[str, Callable[[int, int, tuple[int, int]], np.ndarray]] = {
    "cat-sleeping.mov": _cat_frame,
    "highway.avi": _highway_frame,
}


def write_video(
    path: Path,
    draw: Callable[[int, int, tuple[int, int]], np.ndarray],
    fourcc: str,
    frames: int,
    fps: float,
    size: tuple[int, int],
) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot write {fourcc} video (is it built with FFmpeg?)")
    try:
        for index in range(frames):
            writer.write(draw(index, frames, size))
    finally:
        writer.release()


def write_raw_dataset(dest: Path) -> list[Path]:
    """Write the two images and the two videos into ``dest`` (created; existing files are replaced)."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, image in (("liberty.png", _liberty()), ("robot.jpg", _robot())):
        if not cv2.imwrite(str(dest / name), image):
            raise RuntimeError(f"{dest / name}: OpenCV could not write it")
        written.append(dest / name)
    for name, (fourcc, frames, fps, size) in VIDEOS.items():
        write_video(dest / name, DRAW[name], fourcc, frames, fps, size)
        written.append(dest / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", type=Path, default=Path(FOLDER), help=f"folder to write (./{FOLDER})")
    args = parser.parse_args(argv)
    for path in write_raw_dataset(args.dest):
        print(f"{path}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
