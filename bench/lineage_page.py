"""Lineage page benchmark: the lineage viewer on a 1,000-node lineage, server side and in headless Chromium.

Prints one JSON line with the figures (seconds unless named ``_ms``); nothing is asserted:

- ``trace_dot_s``: ``lineage(D0, depth=None)`` plus its DOT text with node links (what the page asks for).
- ``layout_s``: graphviz laying that DOT out as SVG (the page's slow part, done once per distinct graph).
- ``page_cold_s`` / ``page_warm_s``: ``GET /knit/lineage/D0?depth=all`` through the FastAPI app, first with an
  empty layout cache, then again (the layout cached by DOT hash: what a second view costs).
- ``page_bytes``: the HTML size (the SVG is inline).
- ``data_browser_s``: ``GET /knit/data`` listing all 902 Data (newest 100 shown; the search reads them all).
- ``browser_load_ms``: Chromium from navigation start to the viewer being ready (``data-ready`` set by
  ``knit.js``), ``browser_zoom_frame_ms`` / ``browser_pan_frame_ms``: the median time of one zoom step / one pan
  step including the frame that repaints the 1,000 nodes.

The catalog (SQLite in a temporary directory, built through the service layer) is a fan-out of three Plans from
one uploaded Data: ``D0 -> A -> 20 Data -> 20 Runs of B -> 80 Data -> 80 Runs of C -> 800 Data`` = 1,004 nodes
with the upload Run and its root. Airflow's authentication is switched off for the measurement (dependency
overrides on a local uvicorn); everything else is the real page code.

Big graphs (issue 17, item 4), in the same run: ``lineage_10k_tti_s`` is Chromium's time to interactive (navigation
start to the viewer ready) on ``/knit/lineage/D0?depth=all`` for the 10,100-node lineage of ``bench/lineage.py``,
collapsed by the page into groups of repeated Runs and Data; ``plan_graph_1k_tti_s`` the same for a Plan page
whose plan graph (``depth=all``) holds 1,000 Plans (a tree: 1 -> 10 -> 100 -> 889, each feeding the next by a
tag). ``*_boxes`` count what is drawn, ``*_nodes`` what was traced; targets < 3 s.

Usage: ``python bench/lineage_page.py`` (a few minutes).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

FANS = (("a", 20), ("b", 4), ("c", 10))


def plan_yaml(image: str, level: int, outputs: int) -> str:
    outs = ", ".join(f"{{path: /out/{i}, tags: ['level:{level + 1}']}}" for i in range(outputs))
    return f"image: bench/{image}:v1\ninputs: [{{path: /in, tags: ['level:{level}']}}]\noutputs: [{outs}]\n"


def build(knit, workdir: Path) -> str:
    from knit_dev import lifecycle

    from knit_provider.service import data, plans, runs

    plan_ids = [plans.apply(knit, plan_yaml(name, level, fan))["planId"] for level, (name, fan) in enumerate(FANS)]
    source = workdir / "d0"
    source.mkdir()
    (source / "seed.txt").write_text("seed\n")
    start = data.push_dir(knit, source, ["level:0", "name:seed"])["knitId"]
    for plan_id in plan_ids[:-1]:  # A and B finish so B and C fire; C's Runs stay waiting
        for run in runs.find(knit, plan_ids=[plan_id]):
            lifecycle.finish(knit, run["runId"], exit_code=0)
    return start


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def open_app(knit):
    """The Knit app with Airflow's auth and access checks switched off and the given catalog."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import FastAPI

    from knit_provider.api.app import create_app
    from knit_provider.api.knit import knit as knit_dependency
    from knit_provider.api.pages.auth import login_redirect
    from knit_provider.api.rest import common

    app = create_app()
    for dependency in (get_user, login_redirect, common.can_read, common.can_trigger, common.can_edit_plans):
        app.dependency_overrides[dependency] = lambda: None
    app.dependency_overrides[knit_dependency] = lambda: knit
    root = FastAPI()
    root.mount("/knit", app)
    return root


@contextmanager
def served(app) -> Iterator[str]:
    import uvicorn
    from knit_dev.standalone import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


STEP_SCRIPT = """
const [selector, steps, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const viewport = document.querySelector('.graph-viewport');
const button = document.querySelector(selector);
const frame = () => new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
(async () => {
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    if (button) button.click();
    else viewport.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowLeft', bubbles: true}));
    await frame();
    times.push(performance.now() - t0);
  }
  done(times);
})();
"""


def browser_figures(url: str) -> dict:
    from knit_dev.browser import chromium
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium(1400, 900)
    try:
        driver.set_script_timeout(120)
        driver.get(url)
        WebDriverWait(driver, 60).until(
            lambda d: d.execute_script("return document.querySelector('.graph-viewport').dataset.ready")
        )
        loaded = driver.execute_script("return performance.now()")
        zooms = driver.execute_async_script(STEP_SCRIPT, "[data-zoom=in]", 12)
        driver.execute_script("document.querySelector('[data-zoom=fit]').click()")
        pans = driver.execute_async_script(STEP_SCRIPT, "#no-such-button", 12)
        nodes = driver.execute_script("return document.querySelectorAll('.graph-viewport g.node').length")
        return {
            "browser_svg_nodes": nodes,
            "browser_load_ms": round(loaded),
            "browser_zoom_frame_ms": round(statistics.median(zooms), 1),
            "browser_pan_frame_ms": round(statistics.median(pans), 1),
        }
    finally:
        driver.quit()


def build_plan_tree(knit) -> str:
    """1,000 Plans in a tree (each child consumes its parent's output tag), in one transaction; the root's id."""
    from knit_provider.catalog.engine import write_tx
    from knit_provider.catalog.plans import insert_plan
    from knit_provider.core.plan_spec import parse_plan_yaml

    def spec(index: int, parent: int | None) -> str:
        wanted = f"tree:{parent}" if parent is not None else "tree:seed"
        return (
            f"image: bench/tree{index}:v1\ninputs: [{{path: /in, tags: ['{wanted}']}}]\n"
            f"outputs: [{{path: /out, tags: ['tree:{index}']}}]\n"
        )

    parents = [None] + [(i - 1) // 10 if i <= 110 else 11 + (i - 111) % 100 for i in range(1, 1000)]
    ids = []
    with write_tx(knit.engine) as conn:
        for index, parent in enumerate(parents):
            ids.append(insert_plan(conn, parse_plan_yaml(spec(index, parent)))[0])
    return ids[0]


def tti_s(url: str) -> tuple[float, int]:
    """Chromium: navigation start to the graph viewer ready (seconds), and the boxes drawn; median of three."""
    from knit_dev.browser import chromium
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium(1400, 900)
    times = []
    try:
        for _ in range(3):
            driver.get(url)
            WebDriverWait(driver, 120).until(
                lambda d: d.execute_script("return document.querySelector('.graph-viewport').dataset.ready")
            )
            times.append(driver.execute_script("return performance.now()") / 1000)
        boxes = driver.execute_script("return document.querySelectorAll('.graph-viewport g.node').length")
    finally:
        driver.quit()
    return round(statistics.median(times), 2), boxes


def big_graphs(tmp: Path) -> dict:
    """The 10,000-node lineage and the 1,000-Plan graph, drawn in Chromium (issue 17, item 4)."""
    import lineage as lineage_bench

    from knit_provider.api.pages import svg
    from knit_provider.service import Knit
    from knit_provider.service.graphs import lineage, plan_graph

    with Knit.open(home=tmp / "big-home") as knit:
        start = lineage_bench.build(knit, tmp)
        root_plan = build_plan_tree(knit)
        nodes = lineage(knit, start, depth=None).node_count
        plans = plan_graph(knit, root_plan, depth=None).node_count
        app = open_app(knit)
        with served(app) as base:
            svg.clear_layout_cache()
            lineage_tti, lineage_boxes = tti_s(f"{base}/knit/lineage/{start}?depth=all")
            svg.clear_layout_cache()
            plan_tti, plan_boxes = tti_s(f"{base}/knit/plans/{root_plan}?depth=all")
    return {
        "lineage_10k_nodes": nodes,
        "lineage_10k_boxes": lineage_boxes,
        "lineage_10k_tti_s": lineage_tti,
        "plan_graph_1k_nodes": plans,
        "plan_graph_1k_boxes": plan_boxes,
        "plan_graph_1k_tti_s": plan_tti,
    }


def main() -> None:
    from fastapi.testclient import TestClient

    from knit_provider.api.pages import svg
    from knit_provider.api.pages.render import Links
    from knit_provider.service import Knit
    from knit_provider.service.graphs import lineage, render

    with tempfile.TemporaryDirectory(prefix="knit-bench-page-") as tmp, Knit.open(home=Path(tmp) / "home") as knit:
        build_s, start = timed(lambda: build(knit, Path(tmp)))
        links = Links(knit_base="/knit", airflow_base="")

        def trace() -> str:
            return lineage(knit, start, depth=None).to_dot(link=svg.linker(links))

        trace()  # warm-up: imports, SQL compilation
        trace_s, dot = timed(trace)
        layout_s, _ = timed(lambda: render(dot, "svg"))
        graph = lineage(knit, start, depth=None)

        app = open_app(knit)
        client = TestClient(app)
        path = f"/knit/lineage/{start}?depth=all"
        client.get("/knit/data")  # warm-up of the app and templates
        svg.clear_layout_cache()
        cold_s, cold = timed(lambda: client.get(path))
        warm_s, warm = timed(lambda: client.get(path))
        assert cold.status_code == warm.status_code == 200, cold.text[:500]
        browse_s, browse = timed(lambda: client.get("/knit/data"))
        assert browse.status_code == 200, browse.text[:500]
        with served(app) as base:
            browser = browser_figures(base + path)
        (Path(tmp) / "big").mkdir()
        big = big_graphs(Path(tmp) / "big")

    result = {
        "lineage_nodes": graph.node_count,
        "trace_dot_s": round(trace_s, 3),
        "layout_s": round(layout_s, 3),
        "page_cold_s": round(cold_s, 3),
        "page_warm_s": round(warm_s, 3),
        "page_bytes": len(cold.content),
        "data_browser_s": round(browse_s, 3),
        **browser,
        **big,
        "targets": {"lineage_10k_tti_s": "< 3", "plan_graph_1k_tti_s": "< 3"},
        "targets_met": big["lineage_10k_tti_s"] < 3 and big["plan_graph_1k_tti_s"] < 3,
    }
    print(json.dumps(result), flush=True)
    print(f"catalog built in {build_s:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
