"""Content Shuffler: sort gifs, images and traced images into ``originals/`` and ``edges/``.

Every gif or image at the top level of an ``--input`` folder is copied into ``<output>/edges/`` when its name ends
in ``_edges`` (``liberty_edges.png``, ``highway_edges.gif``) and into ``<output>/originals/`` otherwise. Sub-folders
(the tracer's traced video frames) are not collage material and are skipped, as in the tutorial.

    python3 /content_shuffler.py --input /pfs/movie_gifer /pfs/raw_videos_and_images /pfs/image_tracer \
        --output /pfs/out
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

MEDIA_SUFFIXES = (".gif", ".png", ".jpg", ".jpeg")
EDGES_MARK = "_edges"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sort originals and their edges into two folders.")
    parser.add_argument("--input", type=Path, nargs="+", required=True, help="folders of gifs and images")
    parser.add_argument("--output", type=Path, required=True, help="folder to write originals/ and edges/ into")
    args = parser.parse_args(argv)
    for folder in args.input:
        if not folder.is_dir():
            raise SystemExit(f"--input {folder}: not a directory")
    sorted_into: dict[str, Path] = {}
    for kind in ("originals", "edges"):
        (args.output / kind).mkdir(parents=True, exist_ok=True)
    for folder in args.input:
        skipped = 0
        for entry in sorted(folder.iterdir()):
            if not (entry.is_file() and entry.suffix.lower() in MEDIA_SUFFIXES):
                skipped += 1
                continue
            kind = "edges" if entry.stem.endswith(EDGES_MARK) else "originals"
            relative = f"{kind}/{entry.name}"
            if relative in sorted_into:
                raise SystemExit(f"{entry} and {sorted_into[relative]} would both be {relative}")
            shutil.copyfile(entry, args.output / relative)
            sorted_into[relative] = entry
            print(f"{entry} -> {relative}")
        if skipped:
            print(f"{folder}: {skipped} entries skipped (folders of frames, other files)")
    counts = {kind: sum(1 for r in sorted_into if r.startswith(kind + "/")) for kind in ("originals", "edges")}
    print(f"{counts['originals']} originals, {counts['edges']} edges in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
