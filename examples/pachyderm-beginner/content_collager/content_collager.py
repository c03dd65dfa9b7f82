"""Content Collager: a static ``index.html`` showing each original beside its traced edges.

Reads the shuffler's ``originals/`` and ``edges/`` folders, copies both next to the page (so the output folder is
self-contained and opens from disk) and pairs ``<name>.<ext>`` with ``<name>_edges.<ext>``. A file without its
counterpart is listed at the end rather than dropped. No scripts, no network: plain HTML and CSS.

    python3 /content_collager.py --input /pfs/content_shuffler --output /pfs/out
"""

from __future__ import annotations

import argparse
import html
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

MEDIA_SUFFIXES = (".gif", ".png", ".jpg", ".jpeg")
EDGES_MARK = "_edges"
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; background: #f6f6f4; color: #222; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; align-items: start; margin: 0 0 1.5rem;
        padding: 1rem; background: #fff; border: 1px solid #ddd; border-radius: 6px; max-width: 900px; }
.pair h2 { grid-column: 1 / 3; margin: 0; font-size: 1.1rem; }
figure { margin: 0; }
figure img { display: block; width: 100%; image-rendering: pixelated; background: #000; }
figcaption { font-size: .85rem; color: #555; margin-top: .3rem; }
"""


def media(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise SystemExit(f"{folder}: missing (the input must hold the shuffler's originals/ and edges/)")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)


def figure(kind: str, path: Path, label: str) -> str:
    src = quote(f"{'originals' if kind == 'original' else 'edges'}/{path.name}")
    name = html.escape(path.name)
    return (
        f'<figure class="{kind}"><img src="{src}" alt="{html.escape(label)}, {kind}">'
        f"<figcaption>{kind}: {name}</figcaption></figure>"
    )


def page(pairs: list[tuple[str, Path, Path]], unpaired: list[str]) -> str:
    sections = [
        f'<section class="pair" data-name="{html.escape(name)}"><h2>{html.escape(name)}</h2>'
        f"{figure('original', original, name)}{figure('edges', edge, name)}</section>"
        for name, original, edge in pairs
    ]
    if unpaired:
        items = "".join(f"<li>{html.escape(item)}</li>" for item in unpaired)
        sections.append(f'<section class="unpaired"><h2>Without a counterpart</h2><ul>{items}</ul></section>')
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Pachyderm beginner tutorial: originals and edges</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n<h1>Originals and their edges</h1>\n"
        f"<p>{len(pairs)} originals, each beside its Canny edges (videos as animated gifs).</p>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write an HTML page comparing originals with their edges.")
    parser.add_argument("--input", type=Path, required=True, help="folder holding originals/ and edges/")
    parser.add_argument("--output", type=Path, required=True, help="folder to write index.html (and images) into")
    args = parser.parse_args(argv)
    originals = media(args.input / "originals")
    edges = {p.stem[: -len(EDGES_MARK)]: p for p in media(args.input / "edges") if p.stem.endswith(EDGES_MARK)}
    if not originals:
        raise SystemExit(f"{args.input / 'originals'}: no gif or image to show")
    pairs = [(p.stem, p, edges[p.stem]) for p in originals if p.stem in edges]
    paired = {name for name, _, _ in pairs}
    unpaired = [f"originals/{p.name}" for p in originals if p.stem not in paired]
    unpaired += [f"edges/{p.name}" for name, p in edges.items() if name not in paired]
    for kind, files in (("originals", originals), ("edges", list(edges.values()))):
        (args.output / kind).mkdir(parents=True, exist_ok=True)
        for path in files:
            shutil.copyfile(path, args.output / kind / path.name)
    (args.output / "index.html").write_text(page(pairs, unpaired), encoding="utf-8")
    for item in unpaired:
        print(f"warning: {item} has no counterpart")
    print(f"{len(pairs)} pairs -> {args.output / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
