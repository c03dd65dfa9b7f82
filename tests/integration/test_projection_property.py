"""Property tests of projection (DESIGN.md 2 "Nomination and projection", 3 "Projection happens at write time").

Random sequences of catalog writes (apply a Plan, push Data, edit tags, finish a Run, (de)activate a Plan) run
against a real catalog (SQLite and PostgreSQL) and against an independent pure model. After every step the
catalog's Runs (uploads aside) must be exactly the combinations the model says were ever satisfied since their
Plan existed, each exactly once, with the status the model expects (deactivated when created while inactive).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from knit_dev import lifecycle

from knit_provider.core.errors import Conflict
from knit_provider.core.matching import is_nominated
from knit_provider.core.plan_spec import PlanSpec, parse_plan_dict
from knit_provider.core.tags import KEY_TIMESTAMP, Tag, parse_tag
from knit_provider.core.timefmt import parse_rfc3339
from knit_provider.service import Knit, data, plans, runs

# A small vocabulary, so that matches are frequent. ``x:*`` is mostly what outputs carry: chains form through it
# while a plan feeding itself (a refused cycle) stays the exception.
USER_TAGS = [f"{k}:{v}" for k in "abc" for v in "12"]
CHAIN_TAGS = ["x:1", "x:2"]
UPLOAD_PLAN_NAME = "knit#uploaded"
MAX_RUNS = 160  # stop a sequence early once it has made this many Runs (keeps examples fast)

_databases = itertools.count()


# ------------------------------------------------------------------------------------------------------------------
# A fresh catalog per example


@pytest.fixture
def fresh_knit(backend: str, request: pytest.FixtureRequest, tmp_path: Path):
    """``with fresh_knit() as knit``: a new, empty catalog and Data store each time (one per example).

    SQLite: a new file. PostgreSQL: a new schema in a database of the session's server (``CREATE DATABASE``
    costs ~0.3 s, a schema almost nothing; both are a catalog migrated from scratch).
    """
    counter = itertools.count()
    server = request.getfixturevalue("postgres_server") if backend == "postgresql" else None
    base_url = server.create_database(f"knit_prop_{os.getpid()}_{next(_databases)}") if server else None

    def admin(sql: str) -> None:
        import psycopg

        database = base_url.rsplit("/", 1)[1]
        with psycopg.connect(
            f"host=127.0.0.1 port={server.port} user={server.user} dbname={database}", autocommit=True
        ) as conn:
            conn.execute(sql)

    @contextmanager
    def make() -> Iterator[Knit]:
        n = next(counter)
        root = Path(tempfile.mkdtemp(prefix=f"example{n}-", dir=tmp_path))
        if server is None:
            url = f"sqlite:///{root / 'catalog.db'}"
        else:
            admin(f"CREATE SCHEMA example{n}")
            url = f"{base_url}?options=-csearch_path%3Dexample{n}"
        knit = Knit.open(url=url, home=root / "home")
        try:
            yield knit
        finally:
            knit.close()
            shutil.rmtree(root, ignore_errors=True)
            if server is not None:
                admin(f"DROP SCHEMA example{n} CASCADE")

    return make


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    """One small directory, pushed again and again (each push is new Data)."""
    root = tmp_path / "payload"
    root.mkdir(exist_ok=True)
    (root / "file.txt").write_text("payload")
    return root


# ------------------------------------------------------------------------------------------------------------------
# The pure model


@dataclass
class DataM:
    seq: int
    knit_id: str
    tags: set[Tag]
    done: bool
    timestamp_ms: int | None = None
    producer: int | None = None  # RunM.seq, None for an upload


@dataclass
class PlanM:
    seq: int
    plan_id: str
    spec: PlanSpec
    active: bool
    out_tag_sets: list[frozenset[Tag]]  # outputs then the log: the tags their Data are born with


@dataclass
class RunM:
    seq: int
    run_id: str
    plan: int
    combo: tuple[int, ...]
    status: str
    outputs: list[int] = field(default_factory=list)


def tags_of(texts) -> set[Tag]:
    return {parse_tag(t) for t in texts}


def identity(spec: PlanSpec) -> tuple:
    """Our own notion of "the same plan" (only the fields the generator varies)."""
    return (
        spec.image,
        tuple((i.path, frozenset(i.all_tags())) for i in sorted(spec.inputs, key=lambda i: i.path)),
        tuple((o.path, frozenset(o.tags)) for o in sorted(spec.outputs, key=lambda o: o.path)),
        frozenset(spec.log.tags) if spec.log is not None else None,
    )


def unpinned_input_sets(spec: PlanSpec) -> list[frozenset[Tag]]:
    return [frozenset(i.tags) for i in spec.inputs if i.pin_knit_id is None and i.pin_timestamp_ms is None and i.tags]


def out_sets(spec: PlanSpec) -> list[frozenset[Tag]]:
    sets = [frozenset(o.tags) for o in spec.outputs]
    if spec.log is not None:
        sets.append(frozenset(spec.log.tags))
    return sets


class Model:
    """What the catalog must contain, derived only from the steps taken (and ids the catalog handed out)."""

    def __init__(self, knit: Knit, source: Path) -> None:
        self.knit = knit
        self.source = source
        self.data: list[DataM] = []
        self.by_knit_id: dict[str, DataM] = {}
        self.plans: list[PlanM] = []
        self.by_plan_id: dict[str, PlanM] = {}
        self.runs: dict[tuple[int, tuple[int, ...]], RunM] = {}
        self.run_list: list[RunM] = []
        self.identities: set[tuple] = set()
        self.uploads = 0
        self.log: list[str] = []

    # ---- bookkeeping ------------------------------------------------------------------------------------------

    def add_data(self, knit_id: str, tags: set[Tag], *, done: bool, ts: int | None, producer: int | None) -> DataM:
        assert knit_id not in self.by_knit_id, f"knit id {knit_id} handed out twice"
        item = DataM(len(self.data), knit_id, set(tags), done, ts, producer)
        self.data.append(item)
        self.by_knit_id[knit_id] = item
        return item

    def timestamp_of(self, knit_id: str) -> int | None:
        for text in data.show(self.knit, knit_id)["tags"]:
            tag = parse_tag(text)
            if tag.key == KEY_TIMESTAMP:
                return parse_rfc3339(tag.value)
        return None

    def creates_cycle(self, spec: PlanSpec) -> bool:
        """Independent check: following "output tags include all of an unpinned input's tags", can it reach itself?"""
        own = unpinned_input_sets(spec)
        frontier = out_sets(spec)
        seen: set[int] = set()
        while frontier:
            tags = frontier.pop()
            if any(needed <= tags for needed in own):
                return True
            for plan in self.plans:
                if plan.seq not in seen and any(needed <= tags for needed in unpinned_input_sets(plan.spec)):
                    seen.add(plan.seq)
                    frontier.extend(out_sets(plan.spec))
        return False

    # ---- steps ------------------------------------------------------------------------------------------------

    def apply(self, image: int, inputs: list[tuple[list[str], tuple[str, int] | None]], output, log, active) -> None:
        doc_inputs = []
        for position, (tags, pin) in enumerate(inputs):
            tags = list(tags)
            if pin is not None and self.data:
                kind, index = pin
                target = self.data[index % len(self.data)]
                if kind.startswith("id"):
                    tags.append(f"knit#id:{target.knit_id}")
                    if kind == "id-only":
                        tags = tags[-1:]
                elif target.timestamp_ms is not None:
                    ts_text = next(
                        t for t in data.show(self.knit, target.knit_id)["tags"] if t.startswith(KEY_TIMESTAMP + ":")
                    )
                    tags.append(ts_text)
                    if kind == "timestamp-only":
                        tags = tags[-1:]
            doc_inputs.append({"path": f"/in/{position}", "tags": tags})
        doc = {"image": f"repo/plan:v{image}", "inputs": doc_inputs, "active": active}
        if output is not None:
            doc["outputs"] = [{"path": "/out/0", "tags": list(output)}]
        if log is not None:
            doc["log"] = {"tags": list(log)}
        spec = parse_plan_dict(doc)
        duplicate = identity(spec) in self.identities
        cycle = not duplicate and self.creates_cycle(spec)
        self.log.append(f"apply {doc} (duplicate={duplicate}, cycle={cycle})")
        try:
            shown = plans.apply(self.knit, spec)
        except Conflict as err:
            assert duplicate or cycle, f"apply refused although the model sees no duplicate and no cycle: {err}"
            assert len(plans.find(self.knit)) == len(self.plans), f"a refused apply left a Plan behind: {doc}"
            return
        assert not (duplicate or cycle), f"apply accepted although duplicate={duplicate} cycle={cycle}: {doc}"
        plan = PlanM(len(self.plans), shown["planId"], spec, active, out_sets(spec))
        self.plans.append(plan)
        self.by_plan_id[plan.plan_id] = plan
        self.identities.add(identity(spec))

    def push(self, tags: list[str]) -> None:
        shown = data.push_dir(self.knit, self.source, tags)
        self.uploads += 1
        ts = next(parse_rfc3339(t.split(":", 1)[1]) for t in shown["tags"] if t.startswith(KEY_TIMESTAMP + ":"))
        item = self.add_data(shown["knitId"], tags_of(tags), done=True, ts=ts, producer=None)
        self.log.append(f"push d{item.seq} {sorted(tags)}")

    def edit(self, index: int, add: list[str], remove: list[str], remove_keys: list[str]) -> None:
        if not self.data:
            return
        item = self.data[index % len(self.data)]
        data.tag(self.knit, item.knit_id, add=add, remove=remove, remove_keys=remove_keys)
        removed = tags_of(remove)
        item.tags = {t for t in item.tags if t not in removed and t.key not in remove_keys} | tags_of(add)
        self.log.append(f"tag d{item.seq} add={add} remove={remove} remove_keys={remove_keys}")

    def untag(self, index: int, which: int) -> None:
        carrying = [d for d in self.data if d.tags]
        if carrying:
            item = carrying[index % len(carrying)]
            tags = sorted(item.tags)
            self.edit(item.seq, [], [str(tags[which % len(tags)])], [])

    def finish(self, index: int, ok: bool) -> None:
        waiting = [r for r in self.run_list if r.status == "waiting"]
        if not waiting:
            return
        run = waiting[index % len(waiting)]
        shown = lifecycle.finish(self.knit, run.run_id, exit_code=0 if ok else 1)
        run.status = "done" if ok else "failed"
        assert shown["status"] == run.status, f"finish gave {shown['status']}, expected {run.status}"
        for seq in run.outputs:
            out = self.data[seq]
            out.done = ok
            out.timestamp_ms = self.timestamp_of(out.knit_id)
        self.log.append(f"finish r{run.seq} ok={ok}")

    def set_active(self, index: int, active: bool) -> None:
        if not self.plans:
            return
        plan = self.plans[index % len(self.plans)]
        plans.set_active(self.knit, plan.plan_id, active)
        plan.active = active
        source, target = ("deactivated", "waiting") if active else ("waiting", "deactivated")
        for run in self.run_list:
            if run.plan == plan.seq and run.status == source:
                run.status = target
        self.log.append(f"active p{plan.seq} {active}")

    # ---- the property -----------------------------------------------------------------------------------------

    def satisfied_now(self) -> set[tuple[int, tuple[int, ...]]]:
        combos = set()
        for plan in self.plans:
            pools = [
                [
                    d.seq
                    for d in self.data
                    if is_nominated(
                        spec_input, knit_id=d.knit_id, user_tags=d.tags, done=d.done, timestamp_ms=d.timestamp_ms
                    )
                ]
                for spec_input in plan.spec.inputs
            ]
            combos.update((plan.seq, combo) for combo in itertools.product(*pools))
        return combos

    def check(self) -> None:
        """Catalog Runs == every combination ever satisfied, once each, with the expected status."""
        due = self.satisfied_now() - self.runs.keys()
        catalog = runs.find(self.knit)
        uploads = [r for r in catalog if r["plan"].get("name") == UPLOAD_PLAN_NAME]
        assert len(uploads) == self.uploads, f"{len(uploads)} upload Runs for {self.uploads} pushes"
        found: dict[tuple[int, tuple[int, ...]], list[dict]] = {}
        for run in catalog:
            if run["plan"].get("name") == UPLOAD_PLAN_NAME:
                continue
            plan = self.by_plan_id.get(run["plan"]["planId"])
            assert plan is not None, f"Run {run['runId']} of a plan the model never applied: {run['plan']}"
            inputs = sorted(run["inputs"], key=lambda i: i["path"])
            assert [i["path"] for i in inputs] == [i.path for i in plan.spec.inputs], f"bad inputs {run}"
            unknown = [i["knitId"] for i in inputs if i["knitId"] not in self.by_knit_id]
            assert not unknown, f"Run {run['runId']} consumes unknown Data {unknown}"
            key = (plan.seq, tuple(self.by_knit_id[i["knitId"]].seq for i in inputs))
            found.setdefault(key, []).append(run)
        history = "\n  ".join(self.log)
        duplicates = {k: len(v) for k, v in found.items() if len(v) > 1}
        assert not duplicates, f"duplicate Runs (plan, combo) -> count: {duplicates}\nsteps:\n  {history}"
        expected = self.runs.keys() | due
        missing = sorted(expected - found.keys())
        extra = sorted(found.keys() - expected)
        assert not missing and not extra, (
            f"catalog Runs differ from the model: missing {missing}, unexpected {extra} "
            f"(keys are (plan, data seqs))\nsteps:\n  {history}"
        )
        for key in sorted(due):
            plan = self.plans[key[0]]
            run = found[key][0]
            model_run = RunM(
                len(self.run_list), run["runId"], plan.seq, key[1], "waiting" if plan.active else "deactivated"
            )
            self.runs[key] = model_run
            self.run_list.append(model_run)
            outs = [o["knitId"] for o in sorted(run["outputs"], key=lambda o: o["path"])]
            if run["log"] is not None:
                outs.append(run["log"]["knitId"])
            assert len(outs) == len(plan.out_tag_sets), f"Run {run['runId']} has outputs {outs}"
            for knit_id, tags in zip(outs, plan.out_tag_sets, strict=True):
                item = self.add_data(knit_id, set(tags), done=False, ts=None, producer=model_run.seq)
                model_run.outputs.append(item.seq)
        wrong = {
            f"r{m.seq} (p{m.plan}, {m.combo})": (found[k][0]["status"], m.status)
            for k, m in self.runs.items()
            if found[k][0]["status"] != m.status
        }
        assert not wrong, f"Run statuses (catalog, model) differ: {wrong}\nsteps:\n  {history}"


# ------------------------------------------------------------------------------------------------------------------
# Strategies

# Steps are drawn one at a time, looking at the model: a new input often asks for tags some Data already carries,
# a push or a tag edit often supplies tags some input asks for. Matches (and so Runs, chains) stay frequent.

tag = st.sampled_from(USER_TAGS + CHAIN_TAGS[:1])
out_tag = st.sampled_from(CHAIN_TAGS * 3 + USER_TAGS)
log_tag = st.sampled_from([*CHAIN_TAGS, "l:1"])
index = st.integers(0, 63)
KINDS = ["apply"] * 3 + ["push"] * 5 + ["tag", "untag", "edit"] + ["finish"] * 4 + ["active"]


def some_tags(draw, model: Model, *, wanted_by: str, max_size: int) -> list[str]:
    """1..max_size tags: random ones, or taken from what Data carry (``data``) or inputs ask (``inputs``)."""
    if wanted_by == "data":
        pools = [sorted(str(t) for t in d.tags) for d in model.data if d.tags]
    else:
        pools = [[str(t) for t in i.tags] for p in model.plans for i in p.spec.inputs if i.tags]
    if pools and draw(st.booleans()):
        pool = pools[draw(index) % len(pools)]
        return draw(st.lists(st.sampled_from(pool), min_size=1, max_size=min(max_size, len(pool)), unique=True))
    return draw(st.lists(tag, min_size=1, max_size=max_size, unique=True))


def draw_step(draw, model: Model) -> tuple:
    kind = draw(st.sampled_from(KINDS))
    if kind == "apply":
        n_inputs = draw(st.sampled_from([1, 1, 2, 2, 3]))
        pins = st.sampled_from([None] * 16 + ["id", "id-only", "timestamp", "timestamp-only"])
        inputs = [
            (some_tags(draw, model, wanted_by="data", max_size=2), (lambda p: p and (p, draw(index)))(draw(pins)))
            for _ in range(n_inputs)
        ]
        output = draw(st.none() | st.lists(out_tag, min_size=1, max_size=2, unique=True))
        log = draw(st.none() | st.lists(log_tag, min_size=1, max_size=2, unique=True))
        return ("apply", draw(st.integers(0, 2)), inputs, output, log, draw(st.sampled_from([True] * 3 + [False])))
    if kind == "push":
        tags = set(some_tags(draw, model, wanted_by="inputs", max_size=2))
        tags |= set(draw(st.lists(tag, max_size=1)))
        return ("push", sorted(tags))
    if kind == "tag":
        return ("tag", draw(index), some_tags(draw, model, wanted_by="inputs", max_size=1), [], [])
    if kind == "untag":
        return ("untag", draw(index), draw(index))
    if kind == "edit":
        add = draw(st.lists(tag, max_size=2, unique=True))
        remove = draw(st.lists(tag, max_size=2, unique=True))
        return ("tag", draw(index), add, remove, draw(st.lists(st.sampled_from(["a", "b", "c", "x"]), max_size=1)))
    if kind == "finish":
        return ("finish", draw(index), draw(st.sampled_from([True] * 4 + [False])))
    return ("active", draw(index), draw(st.booleans()))


def run_step(model: Model, item: tuple) -> None:
    kind, *args = item
    if kind == "apply":
        model.apply(*args)
    elif kind == "push":
        model.push(*args)
    elif kind == "tag":
        model.edit(*args)
    elif kind == "untag":
        model.untag(*args)
    elif kind == "finish":
        model.finish(*args)
    else:
        model.set_active(*args)


# ------------------------------------------------------------------------------------------------------------------
# Properties

#: Examples per backend (a PostgreSQL example costs a few times a SQLite one).
EXAMPLES = {"sqlite": 60, "postgresql": 35}
FAN_OUT_EXAMPLES = {"sqlite": 10, "postgresql": 10}
SAME_DATA_EXAMPLES = {"sqlite": 50, "postgresql": 25}


def _settings(n: int):
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_runs_are_exactly_the_combinations_ever_satisfied(backend, fresh_knit, source_dir):
    @_settings(EXAMPLES[backend])
    @given(st.data())
    def check(draws):
        with fresh_knit() as knit:
            model = Model(knit, source_dir)
            model.check()
            for _ in range(draws.draw(st.integers(8, 30), label="steps")):
                item = draws.draw(st.composite(draw_step)(model), label="step")
                run_step(model, item)
                model.check()
                if len(model.run_list) > MAX_RUNS:
                    break

    check()


FAN_TAGS = ["a:1", "b:1", "c:1"]
fan_case = st.tuples(
    st.lists(st.lists(st.sampled_from(FAN_TAGS), min_size=1, max_size=3, unique=True), min_size=12, max_size=18),
    st.lists(st.integers(0, 18), min_size=2, max_size=2),  # when each plan is applied (after all pushes if >= n)
    st.lists(st.tuples(st.integers(0, 17), st.sampled_from(FAN_TAGS)), max_size=6),  # tag toggles at the end
    st.booleans(),  # the second plan starts inactive
)


def test_large_fan_outs_match_the_model(backend, fresh_knit, source_dir):
    """Wide projections: a backfill or a push making dozens of Runs at once (PostgreSQL's COPY path), and
    toggling tags afterwards, which renominates Data whose combinations all exist already."""

    @_settings(FAN_OUT_EXAMPLES[backend])
    @given(case=fan_case)
    def check(case):
        pushes, plan_at, toggles, inactive = case
        plan_steps = [
            ("apply", 0, [(["a:1"], None), (["b:1"], None)], None, None, True),
            ("apply", 0, [(["c:1"], None), (["a:1"], None)], ["x:1"], None, not inactive),
        ]
        steps = []
        for i, tags in enumerate(pushes):
            steps += [plan for plan, at in zip(plan_steps, plan_at, strict=True) if at == i]
            steps.append(("push", tags))
        steps += [plan for plan, at in zip(plan_steps, plan_at, strict=True) if at >= len(pushes)]
        with fresh_knit() as knit:
            model = Model(knit, source_dir)
            for item in steps:
                run_step(model, item)
                model.check()
            for index, toggled in toggles:
                item = model.data[index % len(pushes)]
                present = parse_tag(toggled) in item.tags
                run_step(model, ("tag", item.seq, [] if present else [toggled], [toggled] if present else [], []))
                model.check()
            assert len(model.run_list) == len(model.runs)

    check()


same_data_case = st.tuples(
    st.lists(st.lists(tag, min_size=1, max_size=2, unique=True), min_size=2, max_size=3),  # input tags
    st.lists(st.lists(tag, min_size=0, max_size=3, unique=True), min_size=0, max_size=4),  # other Data
    st.lists(tag, max_size=1),  # extra tags on the Data that fills every input
    st.booleans(),  # plan applied first (projection on push) or last (backfill)
    st.booleans(),  # the plan is active
)


def test_the_same_data_may_fill_several_inputs_of_one_plan(backend, fresh_knit, source_dir):
    @_settings(SAME_DATA_EXAMPLES[backend])
    @given(case=same_data_case)
    def check(case):
        same_data_fills_several_inputs(fresh_knit, source_dir, case)

    check()


def same_data_fills_several_inputs(fresh_knit, source_dir: Path, case) -> None:
    input_tags, others, extra, plan_first, active = case
    every = sorted({t for tags in input_tags for t in tags} | set(extra))
    with fresh_knit() as knit:
        doc = {
            "image": "repo/same:v1",
            "inputs": [{"path": f"/in/{i}", "tags": tags} for i, tags in enumerate(input_tags)],
            "outputs": [{"path": "/out/0", "tags": ["y:1"]}],
            "active": active,
        }
        pushed: list[tuple[str, set[Tag]]] = []

        def push_all() -> None:
            for tags in [every, *others]:
                pushed.append((data.push_dir(knit, source_dir, tags)["knitId"], tags_of(tags)))

        if not plan_first:
            push_all()
        spec = parse_plan_dict(doc)
        plan_id = plans.apply(knit, spec)["planId"]
        if plan_first:
            push_all()
        pools = [
            [k for k, tags in pushed if is_nominated(i, knit_id=k, user_tags=tags, done=True, timestamp_ms=None)]
            for i in spec.inputs
        ]
        expected = Counter(itertools.product(*pools))
        found = runs.find(knit, plan_ids=[plan_id])
        got = Counter(tuple(i["knitId"] for i in sorted(r["inputs"], key=lambda i: i["path"])) for r in found)
        assert got == expected, f"Runs {dict(got)} != expected {dict(expected)} for {doc} and Data {pushed}"
        everywhere = pushed[0][0]
        diagonal = [r for r in found if {i["knitId"] for i in r["inputs"]} == {everywhere}]
        assert len(diagonal) == 1, f"Data {everywhere} carries every input's tags: one Run must take it everywhere"
        assert len(diagonal[0]["inputs"]) == len(input_tags)
        status = "waiting" if active else "deactivated"
        assert {r["status"] for r in found} == {status}, f"statuses {[r['status'] for r in found]}, want {status}"
