"""Airflow served under a path prefix (``[api] base_url = http://localhost:PORT/airflow/``): every link Knit writes
starts with ``/airflow/`` — the plugin's menu entries and tabs, the Knit pages (links, forms, redirects, the login
redirect, the graphs' nodes), the REST API and the CLI on it, the DagRun notes of each starter (the REST API's,
the CLI's, a Run's task's) and the task's "Knit Run" extra link. One real ``airflow standalone``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from knit_dev.standalone import Standalone, free_port
from knit_dev.waiting import wait_until

from knit_provider.core.airflow_names import RUN_TASK_ID, dagrun_id, plan_dag_id
from knit_provider.service import Knit, plans

from .conftest import TRIVIAL_CONTEXT, runs_of, sh_plan, write_image_map

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.conventions]

BASE = "/airflow"
LINK = re.compile(r'(?:href|src|action)="([^"]*)"')


@pytest.fixture(scope="module")
def prefixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standalone]:
    images = write_image_map(tmp_path_factory.mktemp("base-url-images"), {"knit-e2e/sh:1.0": TRIVIAL_CONTEXT})
    home = tmp_path_factory.mktemp("base-url-home")
    with Standalone(knit_home=home, port=free_port(), image_maps=[images], base_path=BASE) as server:
        yield server


@pytest.fixture(scope="module")
def knit(prefixed: Standalone) -> Iterator[Knit]:
    with Knit.open(home=prefixed.knit_home) as instance:
        yield instance


@pytest.fixture(scope="module")
def chain(prefixed: Standalone, knit: Knit, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two Plans in a chain and three Runs, each DagRun started another way: an upload through the REST API (the
    api-server starts it), the downstream Run (its upstream's task starts it), a CLI push naming the Airflow."""
    from knit_provider.remote import KnitClient

    first = plans.apply(knit, sh_plan("base:raw", "base:mid", "cp /in/x/* /out/y/"))
    second = plans.apply(knit, sh_plan("base:mid", "base:out", "cp /in/x/* /out/y/"))
    prefixed.wait_for_dags([plan_dag_id(p["image"], p["planId"]) for p in (first, second)])
    source = tmp_path_factory.mktemp("base-url-payload")
    (source / "a.txt").write_text("uploaded\n")
    with KnitClient(prefixed.url, username="admin", password=prefixed.password()) as client:
        uploaded = client.data.push_dir(source, ["base:raw"])["knitId"]
    (downstream,) = wait_until(lambda: [r for r in runs_of(knit, second["planId"]) if r["status"] == "done"], 180, "")
    pushed = knit_cli(
        prefixed, source.parent, "data", "push", "-t", "base:raw", str(source),
        KNIT_AIRFLOW_URL=prefixed.url, KNIT_AIRFLOW_USERNAME="admin", KNIT_AIRFLOW_PASSWORD=prefixed.password(),
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr
    from_cli = json.loads(pushed.stdout)["knitId"]

    def upstream_done() -> dict[str, dict]:
        done = {r["inputs"][0]["knitId"]: r for r in runs_of(knit, first["planId"]) if r["status"] == "done"}
        return done if len(done) == 2 else {}

    upstream = wait_until(upstream_done, 180, "both upstream Runs done")
    return {"rest": upstream[uploaded], "cli": upstream[from_cli], "task": downstream}


def knit_cli(airflow: Standalone, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "KNIT_HOME": str(airflow.knit_home), **env}
    full_env.pop("KNIT_CATALOG_URL", None)
    full_env.pop("KNIT_PROFILE", None)
    return subprocess.run(
        [str(Path(sys.executable).with_name("knit")), *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def dag_run_of(airflow: Standalone, run: dict) -> dict:
    dag_id = plan_dag_id(run["plan"]["image"], run["plan"]["planId"])
    return airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{dagrun_id(run['runId'])}")


def test_the_plugin_serves_its_app_and_views_under_the_prefix(prefixed: Standalone) -> None:
    listed = prefixed.api("GET", "/api/v2/plugins")["plugins"]
    (knit,) = [p for p in listed if p["name"] == "knit"]
    assert [a["url_prefix"] for a in knit["fastapi_apps"]] == ["/knit"], "the api-server registers the app"
    views = knit["external_views"]
    assert {v["destination"] for v in views} == {"nav", "dag", "dag_run"}
    for view in views:
        assert view["href"].startswith(f"{BASE}/knit/") and view["icon"].startswith(f"{BASE}/knit/"), view
    bearer = {"Authorization": f"Bearer {prefixed.token()}"}
    icon = httpx.get(f"http://localhost:{prefixed.port}{views[0]['icon']}", headers=bearer)
    assert icon.status_code == 200 and "svg" in icon.headers["content-type"], "the icon is where the view says"


def test_each_starter_writes_the_dagrun_note_under_the_prefix(prefixed: Standalone, chain: dict) -> None:
    for starter in ("rest", "cli", "task"):
        run = chain[starter]
        note = dag_run_of(prefixed, run)["note"]
        assert f"]({BASE}/knit/runs/{run['runId']})" in note, f"{starter}: {note}"


def test_the_extra_link_is_under_the_prefix(prefixed: Standalone, chain: dict) -> None:
    run = chain["rest"]
    dag_id = plan_dag_id(run["plan"]["image"], run["plan"]["planId"])
    path = f"/api/v2/dags/{dag_id}/dagRuns/{dagrun_id(run['runId'])}/taskInstances/{RUN_TASK_ID}/links"
    links = prefixed.api("GET", path)
    assert links["extra_links"]["Knit Run"] == f"{BASE}/knit/runs/{run['runId']}"


def test_the_pages_link_post_and_redirect_under_the_prefix(prefixed: Standalone, chain: dict) -> None:
    run = chain["rest"]
    knit_id = run["outputs"][0]["knitId"]
    plan_id = run["plan"]["planId"]
    dag_id = plan_dag_id(run["plan"]["image"], plan_id)
    with httpx.Client(
        base_url=f"http://localhost:{prefixed.port}", headers={"Authorization": f"Bearer {prefixed.token()}"}
    ) as client:
        pages = ["data", f"data/{knit_id}", "plans", f"plans/{plan_id}", "runs", f"runs/{run['runId']}", "lineage",
                 f"lineage/{knit_id}"]  # fmt: skip
        for page in pages:
            reply = client.get(f"{BASE}/knit/{page}")
            assert reply.status_code == 200, (page, reply.status_code)
            absolute = [u for u in LINK.findall(reply.text) if u.startswith("/")]
            assert absolute, page
            outside = [u for u in absolute if not u.startswith(f"{BASE}/")]
            assert not outside, f"{page}: links outside {BASE}/: {outside}"
        for page, target in [
            (f"runs/{dagrun_id(run['runId'])}", f"{BASE}/knit/runs/{run['runId']}"),
            (f"plans/dag/{dag_id}", f"{BASE}/knit/plans/{plan_id}"),
        ]:
            reply = client.get(f"{BASE}/knit/{page}")
            assert reply.status_code in (200, 303), (page, reply.status_code)
            if reply.status_code == 303:
                assert reply.headers["location"] == target
        saved = client.post(f"{BASE}/knit/data/{knit_id}/tags", data={"add": "checked:yes"})
        assert saved.status_code == 303 and saved.headers["location"].startswith(f"{BASE}/knit/data/{knit_id}?")
    browser = httpx.get(f"http://localhost:{prefixed.port}{BASE}/knit/data?tag=x", headers={"Accept": "text/html"})
    assert browser.status_code == 303
    login = browser.headers["location"]
    assert login.startswith(f"{BASE}/api/v2/auth/login?next="), login
    assert unquote(login.split("next=", 1)[1]) == f"{BASE}/knit/data?tag=x", "back to the page after the login"
    assert httpx.get(f"http://localhost:{prefixed.port}{login}").status_code in (200, 302, 303, 307)


def test_the_rest_api_and_the_cli_remote_mode_work_under_the_prefix(prefixed: Standalone, chain: dict, tmp_path):
    with httpx.Client(headers={"Authorization": f"Bearer {prefixed.token()}"}) as client:
        found = client.get(f"{prefixed.url}/knit/api/data", params={"tag": "base:raw"})
        assert found.status_code == 200 and len(found.json()) == 2
    listed = knit_cli(
        prefixed, tmp_path, "data", "find", "-t", "base:raw",
        KNIT_REMOTE_URL=prefixed.url, KNIT_AIRFLOW_USERNAME="admin", KNIT_AIRFLOW_PASSWORD=prefixed.password(),
        KNIT_HOME=str(tmp_path / "no-local-catalog"), HOME=str(tmp_path),
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 2
