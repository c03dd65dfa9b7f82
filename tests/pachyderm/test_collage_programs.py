"""The tutorial's last two steps, run from their Plan files in bubblewrap: the content shuffler's sort and the
collager's page (read with an HTML parser here; in a browser in the end-to-end test)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from .tutorial import Ran, run_plan

pytestmark = pytest.mark.pachyderm

MEDIA = (".gif", ".png", ".jpg", ".jpeg")


class Sections(HTMLParser):
    """``<section>`` elements of the collage: class, data-name, and the (figure class, img src) pairs inside."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict] = []
        self._figure: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section":
            self.sections.append({"class": found.get("class"), "name": found.get("data-name"), "images": []})
        elif tag == "figure":
            self._figure = found.get("class")
        elif tag == "img" and self.sections:
            self.sections[-1]["images"].append((self._figure, found.get("src")))

    def handle_data(self, data: str) -> None:
        if self.sections:
            self.sections[-1].setdefault("text", []).append(data)


def parse(page: Path) -> list[dict]:
    parser = Sections()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.sections


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_shuffler_sorts_every_gif_and_image_into_originals_or_edges(chain: dict[str, Ran]) -> None:
    inputs = [chain[name].output for name in ("gif", "image_extracter", "image_tracer")]
    top_level = {p.name: p.read_bytes() for folder in inputs for p in folder.iterdir() if p.suffix in MEDIA}
    out = chain["content_shuffler"].output
    assert sorted(p.name for p in out.iterdir()) == ["edges", "originals"]
    sorted_files = files(out)
    assert {path.split("/", 1)[1]: data for path, data in sorted_files.items()} == top_level, "complete, unchanged"
    assert len(sorted_files) == len(top_level) == 8, "4 originals (2 gifs, 2 photos) and their 4 edges"
    for path in sorted_files:
        kind, name = path.split("/")
        assert (kind == "edges") == Path(name).stem.endswith("_edges"), path
    assert "/pfs/image_tracer: 2 entries skipped" in chain["content_shuffler"].log, "the folders of traced frames"


def test_shuffler_refuses_a_name_given_twice(tmp_path: Path) -> None:
    folders = [tmp_path / name for name in ("gifs", "images", "edges")]
    for folder in folders:
        folder.mkdir()
    (folders[0] / "same.gif").write_bytes(b"GIF89a")
    (folders[1] / "same.gif").write_bytes(b"GIF89a")
    ran = run_plan("content_shuffler", folders, tmp_path)
    assert not ran.result.ok and "would both be originals/same.gif" in ran.log, ran.log


def test_collage_shows_each_original_beside_its_edges(chain: dict[str, Ran]) -> None:
    out = chain["content_collager"].output
    sections = parse(out / "index.html")
    pairs = {s["name"]: s["images"] for s in sections if s["class"] == "pair"}
    assert pairs == {
        "cat-sleeping": [("original", "originals/cat-sleeping.gif"), ("edges", "edges/cat-sleeping_edges.gif")],
        "highway": [("original", "originals/highway.gif"), ("edges", "edges/highway_edges.gif")],
        "liberty": [("original", "originals/liberty.png"), ("edges", "edges/liberty_edges.png")],
        "robot": [("original", "originals/robot.jpg"), ("edges", "edges/robot_edges.jpg")],
    }
    assert [s["class"] for s in sections] == ["pair"] * 4, "nothing without a counterpart"
    shuffled = files(chain["content_shuffler"].output)
    assert {k: v for k, v in files(out).items() if k != "index.html"} == shuffled, "the page's images sit beside it"
    page = (out / "index.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page, "static and offline"


def test_collage_lists_what_has_no_counterpart(tmp_path: Path) -> None:
    shuffled = tmp_path / "shuffled"
    (shuffled / "originals").mkdir(parents=True)
    (shuffled / "edges").mkdir()
    for path in ("originals/a b.png", "originals/lonely.png", "edges/a b_edges.png", "edges/stray_edges.jpg"):
        (shuffled / path).write_bytes(b"\x89PNG")
    ran = run_plan("content_collager", [shuffled], tmp_path)
    assert ran.result.ok, ran.log
    sections = parse(ran.output / "index.html")
    assert [(s["class"], s["name"]) for s in sections] == [("pair", "a b"), ("unpaired", None)]
    assert sections[0]["images"] == [("original", "originals/a%20b.png"), ("edges", "edges/a%20b_edges.png")]
    assert "originals/lonely.png" in sections[1]["text"] and "edges/stray_edges.jpg" in sections[1]["text"]
    assert "warning: originals/lonely.png has no counterpart" in ran.log


def test_collage_needs_the_shufflers_layout(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    ran = run_plan("content_collager", [empty], tmp_path)
    assert not ran.result.ok and "originals: missing" in ran.log, ran.log
    assert not (ran.output / "index.html").exists()
