"""The promises Knit keeps whatever happens to a deployment, checked on its catalog, Data store and Airflow's tables.

Each check returns its violations as readable lines (empty: the promise holds). Check a quiet deployment (no Run
in flight), or "stuck" counts the Runs still going. Used by the deployment fault tests (``tests/deploy``) and the
soak benchmark (``bench/soak.py``). Reads only.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from sqlalchemy import Connection, select, text

from knit_provider.catalog.causes import ABORT, RETRY, STOP
from knit_provider.catalog.models import (
    UPLOAD_PLAN_ID,
    data_t,
    data_tags_t,
    input_tags_t,
    inputs_t,
    outputs_t,
    run_inputs_t,
    runs_t,
)
from knit_provider.catalog.projection import combo_key
from knit_provider.core.layout import LOG_FILE
from knit_provider.storage.local import LocalStore

TERMINAL = {"done", "failed", "invalidated"}
#: a DagRun's state for a Run's end (a Run failed before it was dispatched has no DagRun)
DAGRUN_STATE = {"done": {"success"}, "failed": {"failed", None}, "invalidated": {"success", "failed", None}}
#: the DagRun's states for a Run a stop ended before any worker began its current attempt: none (never dispatched),
#: an earlier attempt's (a retried Run stopped before its DagRun was cleared), or the stop as its task recorded it
NO_WORKER_STATES = {"success", "failed", None}


def stuck_runs(catalog: Connection) -> list[str]:
    """Runs not ended: on a quiet deployment every Run is done, failed or invalidated."""
    rows = catalog.execute(select(runs_t.c.run_id, runs_t.c.status).where(runs_t.c.status.not_in(TERMINAL)))
    return [f"run {r.run_id} is still {r.status}" for r in rows]


def unexplained_failures(catalog: Connection) -> list[str]:
    """A failed Run says why: a non-zero exit code and a message."""
    rows = catalog.execute(
        select(runs_t.c.run_id, runs_t.c.exit_code, runs_t.c.exit_message).where(runs_t.c.status == "failed")
    )
    return [
        f"run {r.run_id} failed without a reason (exit {r.exit_code!r}, message {r.exit_message!r})"
        for r in rows
        if not r.exit_code or not (r.exit_message or "").strip()
    ]


def half_data(catalog: Connection, store_root: Path) -> list[str]:
    """Every Data of a done Run (uploads included) is in the store, whole: the content's checksum is the one
    registered. A directory of the store that is no Data at all is a leftover that looks like one."""
    store = LocalStore(store_root)
    rows = catalog.execute(
        select(data_t.c.knit_id, data_t.c.checksum, runs_t.c.status)
        .join(runs_t, runs_t.c.run_id == data_t.c.run_id)
        .where(runs_t.c.status == "done")
    )
    found = []
    for row in rows:
        if not store.exists(row.knit_id):
            found.append(f"data {row.knit_id} of a done run is missing from the store")
        elif row.checksum and store.measure(row.knit_id).checksum != row.checksum:
            found.append(f"data {row.knit_id} of a done run differs from its registered checksum")
        elif not row.checksum:
            found.append(f"data {row.knit_id} of a done run has no checksum")
    known = set(catalog.execute(select(data_t.c.knit_id)).scalars())
    if store_root.is_dir():
        for entry in store_root.iterdir():
            if not entry.name.startswith(".") and entry.name not in known:
                found.append(f"store directory {entry.name} is no registered Data")
    return found


def missing_or_doubled_runs(catalog: Connection) -> list[str]:
    """Every combination of Data satisfying a Plan's inputs has exactly one Run, computed from the tags (not from
    the nominations the projection keeps): the Data's Run done, every tag of the input carried, its knit id pin
    met. Inputs pinned by timestamp are left to the projection's own nominations."""
    data_tags: dict[str, set[int]] = defaultdict(set)
    done_data = set(
        catalog.execute(
            select(data_t.c.knit_id).join(runs_t, runs_t.c.run_id == data_t.c.run_id).where(runs_t.c.status == "done")
        ).scalars()
    )
    for knit_id, tag_id in catalog.execute(select(data_tags_t.c.knit_id, data_tags_t.c.tag_id)):
        data_tags[knit_id].add(tag_id)
    input_tags: dict[int, set[int]] = defaultdict(set)
    for input_id, tag_id in catalog.execute(select(input_tags_t.c.input_id, input_tags_t.c.tag_id)):
        input_tags[input_id].add(tag_id)
    inputs: dict[str, list] = defaultdict(list)
    for row in catalog.execute(select(inputs_t).order_by(inputs_t.c.plan_id, inputs_t.c.position)):
        inputs[row.plan_id].append(row)
    runs = Counter(
        (r.plan_id, r.combo_key)
        for r in catalog.execute(select(runs_t.c.plan_id, runs_t.c.combo_key).where(runs_t.c.plan_id != UPLOAD_PLAN_ID))
    )
    found = [f"plan {plan} has {n} runs of combination {key}" for (plan, key), n in runs.items() if n > 1]
    for plan_id, plan_inputs in inputs.items():
        if any(row.pin_timestamp is not None for row in plan_inputs):
            continue
        candidates = [
            sorted(k for k in done_data if input_tags[row.input_id] <= data_tags[k] and row.pin_knit_id in (None, k))
            for row in plan_inputs
        ]
        for combination in itertools.product(*candidates):
            if (plan_id, combo_key(combination)) not in runs:
                found.append(f"plan {plan_id} has no run of satisfied combination {combo_key(combination)}")
    return found


def inputs_of_runs(catalog: Connection) -> dict[str, list[str]]:
    """Run id -> its input knit ids (for reports)."""
    out: dict[str, list[str]] = defaultdict(list)
    for run_id, knit_id in catalog.execute(select(run_inputs_t.c.run_id, run_inputs_t.c.knit_id)):
        out[run_id].append(knit_id)
    return out


def dagrun_disagreements(
    catalog: Connection, metadata: Connection, *, retries: Mapping[str, int] | None = None
) -> list[str]:
    """The catalog and Airflow agree: a dispatched Run has exactly one DagRun ``knit__<run id>``, which ended as
    the Run did; no DagRun names a Run the catalog lacks; a Run's task ran once, plus once per ``knit run retry``
    (``retries``: run id -> retries done, when known)."""
    dagruns: dict[str, list] = defaultdict(list)
    for row in metadata.execute(
        text("SELECT run_id, state, clear_number FROM dag_run WHERE run_id LIKE 'knit\\_\\_%' ESCAPE '\\'")
    ):
        dagruns[row.run_id.removeprefix("knit__")].append(row)
    tries = dict(
        metadata.execute(
            text(
                "SELECT run_id, max(try_number) FROM task_instance WHERE run_id LIKE 'knit\\_\\_%' ESCAPE '\\' "
                "GROUP BY run_id"
            )
        ).all()
    )
    found = []
    runs = {
        r.run_id: r
        for r in catalog.execute(
            select(runs_t.c.run_id, runs_t.c.status, runs_t.c.attempt_started_at).where(
                runs_t.c.plan_id != UPLOAD_PLAN_ID
            )
        )
    }
    for run_id, rows in dagruns.items():
        if run_id not in runs:
            found.append(f"DagRun knit__{run_id} has no Run in the catalog")
        elif len(rows) > 1:
            found.append(f"run {run_id} has {len(rows)} DagRuns")
    for run_id, run in runs.items():
        rows = dagruns.get(run_id, [])
        state = rows[0].state if rows else None
        expected = DAGRUN_STATE.get(run.status)
        if run.status in ("done", "failed") and run.attempt_started_at is None:
            expected = NO_WORKER_STATES
        if expected is not None and state not in expected:
            found.append(f"run {run_id} is {run.status} but its DagRun is {state or 'missing'}")
        allowed = 1 + (retries or {}).get(run_id, 0)
        tried = tries.get(f"knit__{run_id}") or 0
        if tried > allowed:
            found.append(f"run {run_id}'s task was tried {tried} times for {allowed} starts")
    return found


def stops_not_kept(catalog: Connection) -> list[str]:
    """A user's stop is the Run's verdict: a Run whose last change by hand was ``knit run stop`` ended done, one
    stopped with ``--fail`` ended failed (whatever its worker, a queued task or a crash did after)."""
    verdicts = {STOP: "done", ABORT: "failed"}
    rows = catalog.execute(
        select(runs_t.c.run_id, runs_t.c.status, runs_t.c.action).where(runs_t.c.action.in_(list(verdicts)))
    )
    return [
        f"run {r.run_id} was {'stopped' if r.action == STOP else 'stopped with --fail'} but is {r.status}"
        for r in rows
        if r.status in TERMINAL and r.status != verdicts[r.action]
    ]


def retried_by_nobody(catalog: Connection) -> list[str]:
    """Runs whose last change by hand is a retry that no user asked for (no actor): a task started them over. Only
    where every user's write names its actor (the soak's writers do) and nobody clears tasks in Airflow's UI."""
    rows = catalog.execute(
        select(runs_t.c.run_id).where(runs_t.c.action == RETRY, runs_t.c.action_actor.is_(None))
    ).scalars()
    return [f"run {run_id} was retried by no user" for run_id in rows]


def executed_more_than_once(logs: Iterable[tuple[str, str]]) -> list[str]:
    """Programs that say ``ran <run id>`` once: a log (run id, text) saying it more often ran the program twice."""
    return [
        f"run {run_id} executed {text_.count(f'ran {run_id}')} times in one attempt"
        for run_id, text_ in logs
        if text_.count(f"ran {run_id}") > 1
    ]


def done_logs(catalog: Connection, store_root: Path) -> list[tuple[str, str]]:
    """(run id, log text) of every done Run's log Data, for ``executed_more_than_once``."""
    query = (
        select(runs_t.c.run_id, data_t.c.knit_id)
        .join(data_t, data_t.c.run_id == runs_t.c.run_id)
        .join(outputs_t, outputs_t.c.output_id == data_t.c.output_id)
        .where(outputs_t.c.is_log.is_(True), runs_t.c.status == "done")
    )
    logs = []
    for run_id, knit_id in catalog.execute(query):
        path = store_root / knit_id / LOG_FILE
        if path.is_file():
            logs.append((run_id, path.read_text(errors="replace")))
    return logs


def check_all(
    catalog: Connection,
    store_root: Path,
    metadata: Connection | None = None,
    *,
    retries: Mapping[str, int] | None = None,
) -> dict[str, list[str]]:
    """Every check above, by name."""
    checks = {
        "stuck": stuck_runs(catalog),
        "unexplained_failures": unexplained_failures(catalog),
        "half_data": half_data(catalog, store_root),
        "missing_or_doubled_runs": missing_or_doubled_runs(catalog),
        "stops_not_kept": stops_not_kept(catalog),
    }
    if metadata is not None:
        checks["catalog_airflow_disagree"] = dagrun_disagreements(catalog, metadata, retries=retries)
    return checks
