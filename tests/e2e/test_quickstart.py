"""The README's main job, end to end: the quickstart runs examples 1 and 2 through a real airflow standalone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from knit_dev.standalone import REPO, free_port

from knit_provider.service import Knit, data, runs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module", params=["file", pytest.param("s3", marks=pytest.mark.object_store)])
def quickstart(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The quickstart with Data in the knit home (file), or in S3 (the session's moto server; no shared path)."""
    home = tmp_path_factory.mktemp("quickstart") / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KNIT_DATA_STORE"))}
    store: list[str] = []
    if request.param == "s3":
        s3 = request.getfixturevalue("s3_server")
        store = ["--data-store", f"s3://{s3.bucket('knit-quickstart')}/qs"]
        env.update(s3.env, KNIT_DATA_STORE=store[1])
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "quickstart.py"), "--no-keep", "--home", str(home)]
        + ["--port", str(free_port()), "--timeout", "300", *store],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=REPO,
        env=env,
    )
    saved = {k: os.environ.get(k) for k in env if k.startswith(("AWS_", "KNIT_DATA_STORE"))}
    os.environ.update({k: v for k, v in env.items() if k in saved})  # this process reads the same store
    yield {"home": home, "exit": done.returncode, "out": done.stdout, "err": done.stderr, "store": store}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def by_plan(knit: Knit) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for run in runs.find(knit):
        plan = run["plan"]
        name = plan.get("name") or plan["image"].rsplit("/", 1)[-1]
        found.setdefault(name, []).append(run)
    return found


def test_quickstart_runs_both_tutorials_to_done(quickstart) -> None:
    assert quickstart["exit"] == 0, quickstart["out"][-3000:] + quickstart["err"][-3000:]
    assert "every Run ended done" in quickstart["out"]
    with Knit.open(home=quickstart["home"]) as knit:
        plans = by_plan(knit)
        counts = {name: len(found) for name, found in plans.items()}
        assert counts == {
            "knit#uploaded": 4,
            "knitfab-first-train:v1.0": 3,
            "knitfab-first-validation:v1.0": 3,
            "knitfab-preprocess:v1.0": 1,
            "knitfab-preprocess:v2.0": 1,
        }
        assert {r["status"] for found in plans.values() for r in found} == {"done"}

        uploads = {
            r["outputs"][0]["knitId"]: data.show(knit, r["outputs"][0]["knitId"]) for r in plans["knit#uploaded"]
        }
        version = {k: next((t for t in d["tags"] if t.startswith("version:")), None) for k, d in uploads.items()}
        (v1_run,) = plans["knitfab-preprocess:v1.0"]
        (v2_run,) = plans["knitfab-preprocess:v2.0"]
        assert version[v1_run["inputs"][0]["knitId"]] == "version:v1.0", "v1 data never ran the v2 preprocess"
        assert version[v2_run["inputs"][0]["knitId"]] == "version:v2.0", "v2 data never ran the v1 preprocess"

        # lineage: each preprocess output trained a model, and each model was validated
        trained_on = {r["inputs"][0]["knitId"]: r for r in plans["knitfab-first-train:v1.0"]}
        validated = {
            next(i["knitId"] for i in r["inputs"] if i["path"] == "/in/model"): r
            for r in plans["knitfab-first-validation:v1.0"]
        }
        for preprocess in (v1_run, v2_run):
            train = trained_on[preprocess["outputs"][0]["knitId"]]
            validation = validated[train["outputs"][0]["knitId"]]
            metrics = json.loads(knit.store.read_file(validation["outputs"][0]["knitId"], "metrics.json"))
            assert metrics["accuracy"] > 0.8, metrics
            assert (
                data.show(knit, validation["outputs"][0]["knitId"])["upstream"]["run"]["runId"] == validation["runId"]
            )
        assert len(trained_on) == 3, "the directly pushed dataset and the two preprocess outputs"

        log = knit.store.read_file(v2_run["log"]["knitId"], "log")
        assert log.strip(), "the preprocess Run's output is kept as its log Data"
        if quickstart["store"]:
            assert knit.store.url == quickstart["store"][1], "every Data in the object store"
            assert not any((Path(quickstart["home"]) / "data").glob("*-*")), "and none in the knit home"

    svgs = sorted(Path(quickstart["home"]).glob("lineage-*.svg"))
    assert len(svgs) == 3
    assert all(">project</text>" in s.read_text() and ":first&#45;knitfab<" in s.read_text() for s in svgs)
    assert "Runs" in quickstart["out"] and "accuracy" in quickstart["out"]
