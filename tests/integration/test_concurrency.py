"""Concurrent writers (DESIGN.md 3, "Projection happens at write time"): separate OS processes, each with its own
``Knit.open`` on the same catalog and the same knit home, push Data and edit tags at the same moment. Projection
must neither miss a combination (write skew: two pushes each completing the other's combination) nor create one
twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from itertools import product
from pathlib import Path

import pytest

from knit_provider.service import Knit, data, plans, runs

REPO = Path(__file__).resolve().parents[2]
WORKERS = 4
PER_WORKER = 20  # Data each worker pushes onto the main plan
SKEW_ROUNDS = 12  # barrier-released rounds of the write-skew case
BARRIER_TIMEOUT_S = 60

MAIN_PLAN = """
image: repo/join:v1
inputs:
  - {path: /in/a, tags: ["kind:a"]}
  - {path: /in/b, tags: ["kind:b"]}
"""


def skew_plan(pair: int, round_: int) -> str:
    """An empty 2-input plan per (pair of workers, round): each side pushes the Data the other one needs."""
    return f"""
image: repo/skew-{pair}-{round_}:v1
inputs:
  - {{path: /in/a, tags: ["skew:a", "round:{pair}-{round_}"]}}
  - {{path: /in/b, tags: ["skew:b", "round:{pair}-{round_}"]}}
"""


# Runs in each worker process (``python -c``). Reports what it did as JSON in a result file, prints nothing.
WORKER = r"""
import json, random, sys, time
from pathlib import Path

from knit_provider.service import Knit, data

args = json.loads(sys.argv[1])
me, workers, sync = args["worker"], args["workers"], Path(args["sync"])


def barrier(name):
    # every worker drops a file, then all spin until all files exist: released within a millisecond or so
    (sync / f"{name}.{me}").touch()
    deadline = time.monotonic() + args["timeout"]
    while sum(1 for _ in sync.glob(f"{name}.*")) < workers:
        if (sync / "abort").exists():
            raise SystemExit(f"worker {me}: another worker failed, giving up at barrier {name}")
        if time.monotonic() > deadline:
            raise SystemExit(f"worker {me}: barrier {name} timed out")
        time.sleep(0.0005)


def main():
    rng = random.Random(1000 + me)
    knit = Knit.open(url=args["url"], home=args["home"])
    src = Path(args["src"])
    carried = {"a": set(), "b": set()}  # every Data that ever carried kind:a / kind:b
    pending = []  # tag edits done later, interleaved with other writes

    def push(tags):
        return data.push_dir(knit, src, tags)["knitId"]

    def do_pending():
        op, knit_id, kind = pending.pop(0)
        if op == "add":
            data.tag(knit, knit_id, add=[f"kind:{kind}"])
            carried[kind].add(knit_id)
        elif op == "remove":  # untag now, tag again later: the Runs already made stay, none is made twice
            data.tag(knit, knit_id, remove=[f"kind:{kind}"])
            pending.append(("add", knit_id, kind))

    barrier("start")
    for i in range(args["n"]):
        kind = "ab"[(i + me) % 2]
        pattern = rng.choice(["direct", "late", "flip", "swap", "both"])
        if pattern == "direct":
            carried[kind].add(push([f"kind:{kind}", f"worker:{me}"]))
        elif pattern == "late":  # pushed untagged, tagged later
            pending.append(("add", push([f"worker:{me}"]), kind))
        elif pattern == "flip":  # tagged, untagged, tagged again
            knit_id = push([f"kind:{kind}"])
            carried[kind].add(knit_id)
            pending.append(("remove", knit_id, kind))
        elif pattern == "swap":  # one atomic edit removes a tag and adds the kind
            knit_id = push(["other:1"])
            data.tag(knit, knit_id, add=[f"kind:{kind}"], remove=["other:1"])
            carried[kind].add(knit_id)
        else:  # fills both inputs of the plan
            knit_id = push(["kind:a", "kind:b"])
            carried["a"].add(knit_id)
            carried["b"].add(knit_id)
        while pending and rng.random() < 0.6:
            do_pending()
    while pending:
        do_pending()

    # The write-skew case: pairs of workers, released together, each push the half the other completes.
    pair, side = me // 2, "ab"[me % 2]
    skew = []
    for r in range(args["rounds"]):
        barrier(f"skew-{r}")
        skew.append([r, push([f"skew:{side}", f"round:{pair}-{r}"])])

    barrier("end")
    knit.close()
    Path(args["result"]).write_text(json.dumps({"a": sorted(carried["a"]), "b": sorted(carried["b"]), "skew": skew}))


try:
    main()
except BaseException:
    (sync / "abort").touch()  # the others stop waiting at their next barrier
    raise
"""


def _combo(run: dict) -> tuple[str, ...]:
    return tuple(i["knitId"] for i in sorted(run["inputs"], key=lambda i: i["path"]))


def _duplicates(found: list[dict]) -> dict[tuple[str, ...], int]:
    return {combo: n for combo, n in Counter(_combo(r) for r in found).items() if n > 1}


@pytest.mark.slow
def test_concurrent_pushes_and_tag_edits_make_every_run_exactly_once(catalog_url: str, tmp_path: Path):
    """``catalog_url``: a SQLite file in tmp_path, or a new database on the session's PostgreSQL server."""
    url = catalog_url
    home = tmp_path / "home"
    src = tmp_path / "payload"
    src.mkdir()
    (src / "file.txt").write_text("payload")
    sync = tmp_path / "sync"
    sync.mkdir()

    with Knit.open(url=url, home=home) as knit:  # migrated once here; the workers find it at head
        main_plan = plans.apply(knit, MAIN_PLAN)["planId"]
        skew_plans = {
            (pair, r): plans.apply(knit, skew_plan(pair, r))["planId"]
            for pair in range(WORKERS // 2)
            for r in range(SKEW_ROUNDS)
        }

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    procs = []
    for worker in range(WORKERS):
        args = {
            "worker": worker,
            "workers": WORKERS,
            "url": url,
            "home": str(home),
            "src": str(src),
            "sync": str(sync),
            "n": PER_WORKER,
            "rounds": SKEW_ROUNDS,
            "timeout": BARRIER_TIMEOUT_S,
            "result": str(tmp_path / f"result-{worker}.json"),
        }
        with open(tmp_path / f"stderr-{worker}.txt", "w") as stderr:  # files, not pipes: nothing can block
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER, json.dumps(args)],
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            )
    try:
        codes = [proc.wait(timeout=BARRIER_TIMEOUT_S * 2) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    failed = [
        (worker, code, (tmp_path / f"stderr-{worker}.txt").read_text()[-3000:])
        for worker, code in enumerate(codes)
        if code != 0
    ]
    assert not failed, f"worker processes failed (worker, exit code, stderr tail): {failed}"

    results = [json.loads((tmp_path / f"result-{w}.json").read_text()) for w in range(WORKERS)]
    carried_a = {k for r in results for k in r["a"]}
    carried_b = {k for r in results for k in r["b"]}

    with Knit.open(url=url, home=home) as knit:
        assert len(data.find(knit)) == WORKERS * (PER_WORKER + SKEW_ROUNDS), "every push made one Data"
        # every Data ends carrying the tags it ever carried, so "ever satisfied" is the final cross product
        assert {d["knitId"] for d in data.find(knit, ["kind:a"])} == carried_a
        assert {d["knitId"] for d in data.find(knit, ["kind:b"])} == carried_b
        found = runs.find(knit, plan_ids=[main_plan])
        duplicates = _duplicates(found)
        assert not duplicates, f"{len(duplicates)} duplicate Runs of the main plan: {duplicates}"
        got = {_combo(r) for r in found}
        expected = set(product(sorted(carried_a), sorted(carried_b)))
        missing, extra = expected - got, got - expected
        assert not missing, f"{len(missing)} of {len(expected)} Runs missing, e.g. {sorted(missing)[:5]}"
        assert not extra, f"{len(extra)} unexpected Runs, e.g. {sorted(extra)[:5]}"
        assert {r["status"] for r in found} == {"waiting"}

        # write skew: per (pair, round) the two halves were pushed at the same moment by two processes
        pushed = {}
        for worker, result in enumerate(results):
            for r, knit_id in result["skew"]:
                pushed[(worker // 2, r, "ab"[worker % 2])] = knit_id
        skew_failures = {}
        for (pair, r), plan_id in sorted(skew_plans.items()):
            combos = [_combo(run) for run in runs.find(knit, plan_ids=[plan_id])]
            want = [(pushed[(pair, r, "a")], pushed[(pair, r, "b")])]
            if combos != want:
                skew_failures[(pair, r)] = f"{len(combos)} Runs {combos}, want {want}"
        assert not skew_failures, f"write skew: (pair, round) -> Runs: {skew_failures}"
