"""Image Extracter: copy only the images (``.png``, ``.jpg``, ``.jpeg``) out of a mixed folder.

The Plan Knitfab adds to the tutorial: Pachyderm's edge tracer reads the raw repository and skips videos itself,
while a Knitfab input is a whole Data, so this Plan makes an images-only Data for the tracer and the shuffler.
Only the folder's top level is read; file names are kept.

    python image_extracter.py --input /in/mix --output /out/images
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Copy the image files of a folder into another folder.")
    parser.add_argument("-i", "--input", type=Path, required=True, help="folder to extract images from")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder to copy the images into")
    args = parser.parse_args(argv)
    if not args.input.is_dir():
        raise SystemExit(f"--input {args.input}: not a directory")
    args.output.mkdir(parents=True, exist_ok=True)
    copied = skipped = 0
    for entry in sorted(args.input.iterdir()):
        if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            shutil.copyfile(entry, args.output / entry.name)
            print(f"copied {entry.name}")
            copied += 1
        else:
            skipped += 1
    print(f"{copied} images copied into {args.output}, {skipped} other entries skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
