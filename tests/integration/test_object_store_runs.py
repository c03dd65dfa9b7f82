"""Runs on an object store with the process (bubblewrap) and docker runners, through ``run_program`` as the
operator calls it: inputs fetched into the worker's cache and mounted read-only, outputs and the log uploaded
after the program ends (failed Runs too), the input cache shared by Runs, bounded, and never evicting what a Run
uses."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from knit_dev.docker import DEBIAN_PYTHON_IMAGE

from knit_provider.core.errors import StoreUnavailable
from knit_provider.runners import ImageMap, make_runner
from knit_provider.service import Knit, StoreSpec, data, execution, plans, runs
from knit_provider.storage.cache import InputCache
from knit_provider.storage.objects import ObjectStore

pytestmark = pytest.mark.object_store

SH = "knit-objstore/sh:1.0"


@pytest.fixture
def knit(s3_url: str, tmp_path: Path):
    with Knit.open(url=f"sqlite:///{tmp_path / 'catalog.db'}", home=tmp_path / "home",
                   store=StoreSpec(url=s3_url, cache_size=1 << 30)) as opened:  # fmt: skip
        yield opened


@pytest.fixture(params=["process", pytest.param("docker", marks=pytest.mark.docker)])
def runner(request: pytest.FixtureRequest, tmp_path: Path):
    context = tmp_path / "images" / "sh"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(f'FROM {DEBIAN_PYTHON_IMAGE}\nWORKDIR /\nENTRYPOINT ["sh", "-c"]\n')
    (tmp_path / "images" / "images.yaml").write_text(f"{SH!r}: sh\n")
    image_map = ImageMap.load([tmp_path / "images" / "images.yaml"])
    if request.param == "docker":
        return make_runner("docker", image_map=image_map, docker_host=request.getfixturevalue("dockerd").host)
    return make_runner("process", image_map=image_map)


def plan(script: str) -> str:
    return (
        f"image: {SH}\nargs: [{script!r}]\n"
        "inputs: [{path: /in/x, tags: ['t:in']}]\noutputs: [{path: /out/y, tags: ['t:out']}]\n"
        "log: {tags: ['t:log']}\n"
    )


def run_once(knit: Knit, runner, run_id: str) -> execution.Ending:
    assignment = execution.start_attempt(knit, run_id)
    assert isinstance(assignment, execution.Assignment)
    return execution.run_program(knit, assignment, runner, heartbeat_timeout_s=30)


def push(knit: Knit, tmp_path: Path, files: dict[str, str]) -> str:
    source = tmp_path / "src" / str(len(list((tmp_path).glob("src/*"))))
    source.mkdir(parents=True)
    for name, text in files.items():
        (source / name).write_text(text)
    return data.push_dir(knit, source, ["t:in"])["knitId"]


def test_a_run_reads_its_staged_input_and_its_output_and_log_reach_the_store(knit, runner, tmp_path):
    plan_id = plans.apply(
        knit, plan("cat /in/x/a.txt > /out/y/copy.txt; echo written >> /out/y/copy.txt; echo to the log; "
                   "touch /in/x/forbidden 2>/dev/null && echo WROTE-INPUT; exit 0")
    )["planId"]  # fmt: skip
    knit_id = push(knit, tmp_path, {"a.txt": "from s3\n"})
    (run,) = runs.find(knit, plan_ids=[plan_id])
    ending = run_once(knit, runner, run["runId"])
    assert (ending.status.value, ending.exit_code) == ("done", 0)

    shown = runs.show(knit, run["runId"])
    out_id, log_id = shown["outputs"][0]["knitId"], shown["log"]["knitId"]
    store: ObjectStore = knit.store  # type: ignore[assignment]
    assert store.exists(out_id) and store.exists(log_id), "outputs and the log are committed in the store"
    pulled = data.extract(knit, out_id, tmp_path / "pulled")
    assert (pulled / "copy.txt").read_text() == "from s3\nwritten\n"
    log, _ = runs.read_log(knit, run["runId"])
    assert "to the log" in log and "WROTE-INPUT" not in log, "inputs are mounted read-only"
    assert not any((store.work_dir / "outputs").iterdir()), "the local outputs are gone once uploaded"
    assert store.cache.complete(knit_id), "the input stays in the worker's cache for the next Run"
    assert data.show(knit, out_id)["tags"] and "knit#transient:processing" not in data.show(knit, out_id)["tags"]


def test_a_failed_run_keeps_its_outputs_and_log_in_the_store(knit, runner, tmp_path):
    plan_id = plans.apply(knit, plan("echo partial > /out/y/part.txt; echo failing; exit 3"))["planId"]
    push(knit, tmp_path, {"a.txt": "x"})
    (run,) = runs.find(knit, plan_ids=[plan_id])
    ending = run_once(knit, runner, run["runId"])
    assert (ending.status.value, ending.exit_code) == ("failed", 3)
    out_id = runs.show(knit, run["runId"])["outputs"][0]["knitId"]
    assert "knit#transient:failed" in data.show(knit, out_id)["tags"]
    assert (data.extract(knit, out_id, tmp_path / "pulled") / "part.txt").read_text() == "partial\n"
    assert "failing" in runs.read_log(knit, run["runId"])[0]


def test_an_input_missing_from_the_store_fails_the_run_with_the_reason(knit, runner, tmp_path):
    plan_id = plans.apply(knit, plan("true"))["planId"]
    knit_id = push(knit, tmp_path, {"a.txt": "x"})
    knit.store.delete(knit_id)  # lost behind the catalog's back
    (run,) = runs.find(knit, plan_ids=[plan_id])
    ending = run_once(knit, runner, run["runId"])
    assert (ending.status.value, ending.exit_code) == ("failed", execution.EXIT_NOT_STAGED)
    assert "could not be fetched from the Data store" in ending.message and knit_id in ending.message


# ---- the input cache -----------------------------------------------------------------------------------------


def _filler(sizes: dict[str, int], calls: list[str], gate: threading.Event | None = None):
    def fetch(knit_id: str, into: Path) -> int:
        calls.append(knit_id)
        if gate is not None:
            gate.wait(10)
        (into / "f").write_bytes(b"x" * sizes[knit_id])
        return sizes[knit_id]

    return fetch


def test_concurrent_runs_fetch_a_shared_input_once(tmp_path):
    cache = InputCache(tmp_path / "cache", 1 << 20)
    calls: list[str] = []
    gate = threading.Event()
    fetch = _filler({"a": 10}, calls, gate)
    seen: list[Path] = []

    def use() -> None:
        with cache.hold(["a"], fetch, lambda _k: 10) as paths:
            seen.append(paths[0])

    threads = [threading.Thread(target=use) for _ in range(4)]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(20)
    assert calls == ["a"] and len(seen) == 4 and (seen[0] / "f").read_bytes() == b"x" * 10


def test_the_cache_evicts_least_recently_used_and_never_what_a_run_holds(tmp_path):
    cache = InputCache(tmp_path / "cache", 100)
    sizes = {"a": 40, "b": 40, "c": 40, "d": 90}
    calls: list[str] = []
    fetch = _filler(sizes, calls)
    size_of = sizes.__getitem__
    with cache.hold(["a"], fetch, size_of):
        pass
    with cache.hold(["b"], fetch, size_of):
        pass
    with cache.hold(["a"], fetch, size_of):  # a is now the most recently used
        pass
    with cache.hold(["c"], fetch, size_of):
        assert not cache.complete("b") and cache.complete("a"), "the least recently used goes first"
        assert cache.size() <= 100
        with cache.hold(["d"], fetch, size_of):  # a is evictable, c is held
            assert cache.complete("c") and not cache.complete("a")
    assert calls == ["a", "b", "c", "d"]


def test_a_damaged_object_never_enters_the_cache(knit, s3_server, s3_url, tmp_path):
    knit_id = push(knit, tmp_path, {"a.txt": "real"})
    store: ObjectStore = knit.store  # type: ignore[assignment]
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    (key,) = [k for k in s3_server.keys(bucket, f"{prefix}/staging/") if not k.endswith(".alive")]
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=b"fake")
    with pytest.raises(StoreUnavailable), store.staged([knit_id]):
        pass
    assert not store.cache.complete(knit_id) and list((store.cache.root / "tmp").iterdir()) == []
