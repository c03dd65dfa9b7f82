"""CPU seconds and memory of one ``airflow standalone``'s components, read with psutil (``bench/fanout.py``,
``bench/many_plans.py``).

A component's CPU is its process's own time plus, for the processes below it, their own time and the time of the
children they reaped (a task process, a DAG file parse): so a short-lived child still counts once it has ended.
The scheduler's children are the LocalExecutor's workers (each supervises the task processes it forks): they are
reported apart, as ``executor``, so ``scheduler`` is the scheduling loop alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psutil

#: the figures reported, in this order: the standalone's components, and the executor under the scheduler
PARTS = ("scheduler", "executor", "api-server", "dag-processor", "triggerer")


def _own(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _with_reaped(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def _tree(pid: int) -> tuple[psutil.Process, list[psutil.Process]]:
    root = psutil.Process(pid)
    return root, root.children(recursive=True)


def _sum(processes: Iterable[psutil.Process], read) -> float:
    total = 0.0
    for process in processes:
        try:
            total += read(process)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue  # ended between the listing and the read: its time went to its parent's reaped times
    return total


def cpu_seconds(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each part (``PARTS``), from the standalone's ``component_pids()``."""
    found: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            root, below = _tree(pid)
        except psutil.NoSuchProcess:
            continue
        if name == "scheduler":
            found["scheduler"] = _sum([root], _own)
            found["executor"] = _sum(below, _with_reaped)
        else:
            found[name] = _sum([root], _own) + _sum(below, _with_reaped)
    return found


def cpu_used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each part used between two ``cpu_seconds`` readings (a part missing in either is left out)."""
    return {name: round(after[name] - before[name], 3) for name in PARTS if name in before and name in after}


def per_run(used: Mapping[str, float], runs: int) -> dict[str, float]:
    return {name: round(seconds / runs, 4) for name, seconds in used.items()} if runs else {}


def rss_mb(pid: int) -> tuple[float, float, float]:
    """(the process's RSS, the largest RSS below it, the summed RSS of it and everything below it), in MiB."""
    root, below = _tree(pid)
    own = root.memory_info().rss
    sizes = []
    for process in below:
        try:
            sizes.append(process.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return own / 2**20, max(sizes, default=0) / 2**20, (own + sum(sizes)) / 2**20
