"""Bounded lists benchmark: the Data browser, the Runs list, a tag search and the REST list on a big catalog.

Prints one JSON line with the figures and their targets (issue 17, item 3); nothing is asserted:

- ``data_page_p95_ms``, ``runs_page_p95_ms``, ``tag_search_p95_ms`` (target < 300 each): headless Chromium's time
  from navigation start to the page being drawn (the later of first contentful paint and the load event), over
  ``SAMPLES`` navigations each: the first page and pages reached through the "older" cursor; tag searches
  alternate between a narrow tag (100 matches), a broad one (5,000) and two tags together.
- ``rest_list_p95_ms`` (target < 100): ``GET /knit/api/data?limit=100`` (first page and cursored pages) as a
  client sees it; ``rest_runs_list_p95_ms`` the same for Runs.
- ``download_all_*``: a client downloads the whole Data list (``GET /knit/api/data``, streamed, 100,000 items)
  while the api-server's resident memory is sampled: ``server_rss_growth_mb`` is its peak during the download
  minus before it (bounded: one batch, never the list); ``paged_download_all_s`` reads the same list as pages of
  1,000 by cursor.

The catalog: 100,000 uploaded Data (so 100,000 upload Runs) with 3-5 tags each (``project`` of 1,000,
``type`` of 20, ``owner`` of 50), inserted in bulk, plus one Plan whose input matches 10,000 of them (10,000
waiting Runs, created by the real projection): 110,000 Runs. SQLite by default (``--backend postgresql`` starts
a PostgreSQL server as the tests do). The api-server is the real Knit app under uvicorn in its own process, with
Airflow's authentication switched off (as in ``bench/lineage_page.py``).

Usage: ``python bench/pages.py`` (about 3 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

N_DATA, N_PLAN_RUNS, SAMPLES = 100_000, 10_000, 30
TARGETS = {"data_page_p95_ms": 300, "runs_page_p95_ms": 300, "tag_search_p95_ms": 300, "rest_list_p95_ms": 100}


def seed(url: str, home: Path) -> None:
    """The catalog above, in bulk (the Data's bytes are not needed by any list)."""
    from sqlalchemy import insert

    from knit_provider.catalog.data import upload_output_id
    from knit_provider.catalog.engine import write_tx
    from knit_provider.catalog.models import UPLOAD_PLAN_ID, data_t, data_tags_t, runs_t
    from knit_provider.catalog.tagstore import intern_tags
    from knit_provider.core.tags import Tag
    from knit_provider.service import Knit, plans

    rng = random.Random(17)
    with Knit.open(url=url, home=home) as knit:
        start_ms = int(time.time() * 1000) - N_DATA * 10
        batch = 5_000
        for first in range(0, N_DATA, batch):
            rows = []
            for n in range(first, min(first + batch, N_DATA)):
                tags = [Tag("project", f"p{n % 1000}"), Tag("type", f"t{n % 20}")]
                tags += [Tag("owner", f"o{rng.randrange(50)}")] * rng.randint(0, 1)
                if n % (N_DATA // N_PLAN_RUNS) == 0:
                    tags.append(Tag("bench", "planned"))
                rows.append((str(uuid.uuid4()), str(uuid.uuid4()), tags, start_ms + n * 10))
            with write_tx(knit.engine) as conn:
                ids = intern_tags(conn, {t for *_, tags, _ in rows for t in tags})
                output_id = upload_output_id(conn)
                conn.execute(insert(runs_t), [
                    {"run_id": r, "plan_id": UPLOAD_PLAN_ID, "status": "done", "combo_key": r, "created_at": at,
                     "updated_at": at, "finished_at": at} for _, r, _, at in rows
                ])  # fmt: skip
                conn.execute(insert(data_t), [
                    {"knit_id": k, "run_id": r, "output_id": output_id, "created_at": at, "size": 1}
                    for k, r, _, at in rows
                ])  # fmt: skip
                conn.execute(insert(data_tags_t), [
                    {"knit_id": k, "tag_id": ids[t]} for k, _, tags, _ in rows for t in set(tags)
                ])  # fmt: skip
        spec = (
            "image: bench/pages:v1\ninputs: [{path: /in, tags: ['bench:planned']}]\n"
            "outputs: [{path: /out, tags: ['bench:made']}]\nlog: {tags: ['bench:log']}\n"
        )
        plans.apply(knit, spec)
        with knit.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def serve(url: str, home: str, port: int) -> None:
    """The api-server stand-in: the real Knit app under uvicorn, authentication switched off."""
    import uvicorn
    from lineage_page import open_app

    from knit_provider.service import Knit

    knit = Knit.open(url=url, home=Path(home))
    uvicorn.run(open_app(knit), host="127.0.0.1", port=port, log_level="warning")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def p95(values: list[float]) -> float:
    return round(statistics.quantiles(values, n=20, method="inclusive")[18], 1)


DRAWN = """
const nav = performance.getEntriesByType('navigation')[0];
const paint = performance.getEntriesByName('first-contentful-paint')[0];
return Math.max(nav.loadEventEnd, paint ? paint.startTime : 0);
"""


def page_times(driver, base: str, paths: list[str]) -> list[float]:
    """Chromium's time to the page drawn, per path; each page's "older" link is followed to vary the cursor."""
    from selenium.webdriver.common.by import By

    times = []
    for path in paths:
        driver.get(base + path)
        times.append(driver.execute_script(DRAWN))
        older = driver.find_elements(By.CSS_SELECTOR, "a[rel=next]")
        if older and len(times) < len(paths):
            driver.get(older[0].get_attribute("href"))
            times.append(driver.execute_script(DRAWN))
    return times[: len(paths)]


def browser_figures(base: str) -> dict:
    from knit_dev.browser import chromium

    driver = chromium(1400, 900)
    try:
        page_times(driver, base, ["/knit/data", "/knit/runs"])  # warm-up: templates, static files, SQL compiled
        data_ms = page_times(driver, base, ["/knit/data"] * SAMPLES)
        runs_ms = page_times(driver, base, ["/knit/runs"] * SAMPLES)
        searches = ["/knit/data?tags=project:p7", "/knit/data?tags=type:t3", "/knit/data?tags=type:t3%0Aowner:o9"]
        tag_ms = page_times(driver, base, [searches[n % 3] for n in range(SAMPLES)])
    finally:
        driver.quit()
    return {
        "data_page_p95_ms": p95(data_ms),
        "runs_page_p95_ms": p95(runs_ms),
        "tag_search_p95_ms": p95(tag_ms),
        "data_page_median_ms": round(statistics.median(data_ms), 1),
        "tag_search_median_ms": round(statistics.median(tag_ms), 1),
    }


def rest_figures(base: str) -> dict:
    import httpx

    figures = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for name, path in (("rest_list_p95_ms", "/knit/api/data"), ("rest_runs_list_p95_ms", "/knit/api/runs")):
            client.get(path, params={"limit": 100})
            times, cursor = [], None
            for _ in range(SAMPLES * 2):
                started = time.perf_counter()
                reply = client.get(path, params={"limit": 100, "cursor": cursor})
                reply.raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
                cursor = reply.headers.get("X-Next-Cursor")
            figures[name] = p95(times)
    return figures


def download_figures(base: str, server_pid: int) -> dict:
    import httpx

    before = rss_mb(server_pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(server_pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    received = 0
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600) as client, client.stream("GET", "/knit/api/data") as reply:
        for chunk in reply.iter_bytes():
            received += len(chunk)
    stream_s = time.perf_counter() - started
    done.set()
    sampler.join()
    from knit_provider.remote import KnitClient

    started = time.perf_counter()
    items, cursor = 0, None
    with KnitClient(base, token="unused") as client:
        while True:
            page = client.data.find_page(limit=1000, cursor=cursor)
            items += len(page.items)
            if page.next is None:
                break
            cursor = page.next
    paged_s = time.perf_counter() - started
    return {
        "download_all_items": items,
        "download_all_mb": round(received / 2**20, 1),
        "download_all_s": round(stream_s, 1),
        "paged_download_all_s": round(paged_s, 1),
        "server_rss_before_mb": round(before, 1),
        "server_rss_peak_mb": round(peak[0], 1),
        "server_rss_growth_mb": round(peak[0] - before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--serve", nargs=3, metavar=("URL", "HOME", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return
    from contextlib import ExitStack

    import httpx
    from knit_dev.standalone import free_port

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="knit-bench-pages-")))
        if args.backend == "postgresql":
            from knit_dev.postgres import TemporaryPostgres

            url = stack.enter_context(TemporaryPostgres()).create_database("pages")
        else:
            url = f"sqlite:///{tmp / 'catalog.db'}"
        started = time.perf_counter()
        seed(url, tmp / "home")
        seed_s = time.perf_counter() - started
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", url, str(tmp / "home"), str(port)],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
        )
        stack.callback(server.wait, 30)
        stack.callback(server.terminate)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/knit/api/plans", params={"limit": 1}, timeout=5).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        figures = {**browser_figures(base), **rest_figures(base), **download_figures(base, server.pid)}
    result = {
        "backend": args.backend,
        "data": N_DATA,
        "runs": N_DATA + N_PLAN_RUNS,
        **figures,
        "targets": {k: f"< {v}" for k, v in TARGETS.items()},
        "targets_met": all(figures[k] < v for k, v in TARGETS.items()),
        "seed_s": round(seed_s, 1),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
