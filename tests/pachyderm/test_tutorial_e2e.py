"""The whole tutorial through a real ``airflow standalone`` (``run_tutorial.py``), then its results: every Plan ran
once by itself in dependency order, the rendered plan graph and lineage have the tutorial's joins, and the pulled
collage shows each original beside its edges in headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from knit_dev.browser import artifacts_dir, chromium
from knit_dev.standalone import REPO, free_port

from knit_provider.service import Knit, data, plans, runs

from .tutorial import EXAMPLE, PLAN_NAMES, plan

pytestmark = [pytest.mark.pachyderm, pytest.mark.e2e, pytest.mark.slow]

UPLOAD = "the upload"
# Plan -> the Plans whose outputs it reads: the Pachyderm tutorial's graph plus Knitfab's image_extracter
UPSTREAM = {
    "video_converter": (UPLOAD,),
    "image_extracter": (UPLOAD,),
    "image_flattener": ("video_converter",),
    "image_tracer": ("image_extracter", "image_flattener"),
    "gif": ("image_flattener", "image_tracer"),
    "content_shuffler": ("gif", "image_extracter", "image_tracer"),
    "content_collager": ("content_shuffler",),
}
# (plan, output path) -> (plan, input path): the plan graph's edges between Plans
PLAN_EDGES = {
    ("video_converter", "/pfs/out", "image_flattener", "/pfs/video_mp4_converter"),
    ("image_flattener", "/pfs/out", "image_tracer", "/pfs/image_flattener"),
    ("image_flattener", "/pfs/out", "gif", "/pfs/image_flattener"),
    ("image_extracter", "/out/images", "image_tracer", "/pfs/raw_videos_and_images"),
    ("image_extracter", "/out/images", "content_shuffler", "/pfs/raw_videos_and_images"),
    ("image_tracer", "/pfs/out", "gif", "/pfs/image_tracer"),
    ("image_tracer", "/pfs/out", "content_shuffler", "/pfs/image_tracer"),
    ("gif", "/pfs/out", "content_shuffler", "/pfs/movie_gifer"),
    ("content_shuffler", "/pfs/out", "content_collager", "/pfs/content_shuffler"),
}


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("pachyderm-tutorial")
    home, results = root / "home", root / "results"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "run_tutorial.py"), "--no-keep", "--home", str(home)]
        + ["--results", str(results), "--port", str(free_port()), "--timeout", "300"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "every Run ended done" in done.stdout
    with Knit.open(home=home) as knit:
        names = {plan(name).image: name for name in PLAN_NAMES}
        plan_ids = {names[p["image"]]: p["planId"] for p in plans.find(knit)}
        found = {name: runs.find(knit, plan_ids=[plan_id]) for name, plan_id in plan_ids.items()}
        found[UPLOAD] = [r for r in runs.find(knit) if r["plan"].get("name") == "knit#uploaded"]
        tags = {d["knitId"]: d["tags"] for d in data.find(knit, [])}
    return {"home": home, "results": results, "out": done.stdout, "plan_ids": plan_ids, "runs": found, "tags": tags}


def stamp(tutorial: dict, run: dict) -> str:
    """When the Run finished: its output's knit#timestamp (RFC3339 UTC, so text order is time order)."""
    tags = tutorial["tags"][run["outputs"][0]["knitId"]]
    return next(t.partition(":")[2] for t in tags if t.startswith("knit#timestamp:"))


def test_every_plan_ran_once_by_itself_after_its_inputs(tutorial: dict) -> None:
    found = tutorial["runs"]
    assert sorted(found) == sorted([*PLAN_NAMES, UPLOAD])
    assert {name: [r["status"] for r in found[name]] for name in found} == {name: ["done"] for name in found}
    (upload,) = found[UPLOAD]
    raw_tags = tutorial["tags"][upload["outputs"][0]["knitId"]]
    for tag in (
        "format:mixed",
        "type:raw-dataset",
        "name:raw_videos_and_images",
        "project:pachyderm-beginner-tutorial",
    ):
        assert tag in raw_tags
    made_by = {r["outputs"][0]["knitId"]: name for name, rs in found.items() for r in rs}
    for name in PLAN_NAMES:
        (run,) = found[name]
        read = {i["path"]: made_by[i["knitId"]] for i in run["inputs"]}
        assert sorted(read.values()) == sorted(UPSTREAM[name]), f"{name} joins {UPSTREAM[name]}"
        for upstream in UPSTREAM[name]:
            assert stamp(tutorial, found[upstream][0]) < stamp(tutorial, run), f"{upstream} finished before {name}"
        assert run["log"] and "type:log" in tutorial["tags"][run["log"]["knitId"]], f"{name} kept its log"
    collage = found["content_collager"][0]["outputs"][0]["knitId"]
    assert str(tutorial["results"] / collage / "index.html") in tutorial["out"].replace("\n", "")


def svg_graph(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """(node ids, edges) of a graphviz SVG: the ``<title>`` of each node and edge group."""
    nodes, edges = [], []
    for group in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}g"):
        title = group.findtext("{http://www.w3.org/2000/svg}title") or ""
        if group.get("class") == "node":
            nodes.append(title)
        elif group.get("class") == "edge":
            source, target = title.split("->")
            edges.append((source, target))
    return nodes, edges


def test_plan_graph_svg_has_the_tutorials_branches_and_joins(tutorial: dict) -> None:
    nodes, edges = svg_graph(tutorial["results"] / "plan-graph.svg")
    name_of = {"p" + plan_id: name for name, plan_id in tutorial["plan_ids"].items()}
    assert sorted(name_of[n] for n in nodes if n in name_of) == sorted(PLAN_NAMES), "all seven Plans"
    between = set()
    for source, target in edges:
        (src_plan, _, src_port), (dst_plan, _, dst_port) = source.partition("@"), target.partition("@")
        if src_port and dst_port:
            between.add((name_of[src_plan], src_port, name_of[dst_plan], dst_port))
    assert between == PLAN_EDGES
    logs = {name_of[s] for s, t in edges if t.endswith("@log") and s in name_of}
    assert logs == set(PLAN_NAMES), "each Plan's log point is drawn"


def test_lineage_svg_traces_the_collage_back_to_the_upload(tutorial: dict) -> None:
    nodes, edges = svg_graph(tutorial["results"] / "lineage.svg")
    found = tutorial["runs"]
    run_name = {"r" + r["runId"]: name for name, rs in found.items() for r in rs}
    made_by = {"d" + r["outputs"][0]["knitId"]: name for name, rs in found.items() for r in rs}
    log_of = {"d" + rs[0]["log"]["knitId"]: name for name, rs in found.items() if rs[0]["log"]}
    assert sorted(run_name[n] for n in nodes if n in run_name) == sorted([*UPSTREAM, UPLOAD]), "every Run"
    assert len(nodes) == len(run_name) + len(made_by) + len(log_of) + 1, "Runs, outputs, logs and one root"
    assert sorted(n for n in nodes if n.startswith("d")) == sorted([*made_by, *log_of]), "outputs and logs"
    assert [n for n in nodes if n.startswith("root#")] == ["root#0"]
    reads = {name: sorted(made_by[s] for s, t in edges if run_name.get(t) == name) for name in UPSTREAM}
    assert reads == {name: sorted(upstream) for name, upstream in UPSTREAM.items()}, "the joins, Run by Run"
    writes_log = sorted(run_name[s] for s, t in edges if t in log_of)
    assert writes_log == sorted(PLAN_NAMES), "every Run's (log) is Data too"


def test_collage_in_chromium_shows_each_original_beside_its_edges(tutorial: dict) -> None:
    collage = tutorial["runs"]["content_collager"][0]["outputs"][0]["knitId"]
    page = tutorial["results"] / collage / "index.html"
    browser = chromium(width=1100, height=2100)
    try:
        browser.get(page.as_uri())
        browser.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "Promise.all([...document.images].map(i => i.decode().catch(() => null))).then(() => done(true));"
        )
        pairs = browser.execute_script(
            "return [...document.querySelectorAll('section.pair')].map(s => {"
            "  const o = s.querySelector('figure.original img'), e = s.querySelector('figure.edges img');"
            "  const ro = o.getBoundingClientRect(), re = e.getBoundingClientRect();"
            "  return {name: s.dataset.name, original: o.getAttribute('src'), edges: e.getAttribute('src'),"
            "    widths: [o.naturalWidth, e.naturalWidth], left: [ro.left, re.left], top: [ro.top, re.top],"
            "    right: ro.right};"
            "});"
        )
        browser.save_screenshot(str(artifacts_dir("pachyderm") / "collage.png"))
    finally:
        browser.quit()
    assert [p["name"] for p in pairs] == ["cat-sleeping", "highway", "liberty", "robot"]
    for pair in pairs:
        stem, suffix = pair["original"].removeprefix("originals/").rsplit(".", 1)
        assert stem == pair["name"] and pair["edges"] == f"edges/{stem}_edges.{suffix}", pair
        assert min(pair["widths"]) > 0, f"{pair['name']}: both images loaded"
        assert pair["top"][0] == pair["top"][1] and pair["right"] <= pair["left"][1], f"{pair['name']}: side by side"
