"""Knit's task modules, imported once by the components that fork Knit's processes, before they fork.

A Run's task runs in a process the scheduler's LocalExecutor workers fork, and the DAG processor forks a process
for every parse of Knit's DAG file; both import Knit's DAG factory, its run operator and the process runner. Made in
the forking parent as the component starts (before the scheduler starts its executor's workers), those imports are
inherited: every Run's task and every parse skips them (about 0.05 CPU s each, ``bench/fanout.py``). The DAG
processor also builds one Asset: the first Asset a process builds makes Airflow load every provider's asset
URI handlers (about 0.2 CPU s and 300 modules), which every parse of a file declaring KnitAssets would pay again.
Airflow's DAG processor does the same for the ``airflow`` modules a DAG file names
(``[dag_processor] parsing_pre_import_modules``). The modules are named, not used: nothing of them runs here (they
only define things). A step that fails is logged and left to the task or the parse, which report it.
"""

from __future__ import annotations

import importlib
import logging
import sys

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

#: the ``airflow`` subcommands whose processes fork Knit's task processes or DAG parses
FORKING_COMPONENTS = ("scheduler", "dag-processor")
#: what a Plan's DAG parse and a Run's task (the process runner) import beyond what the plugin already has
TASK_MODULES = ("knit_provider.dags.factory", "knit_provider.runners.process")


def forks_knit_processes(argv: list[str]) -> bool:
    return any(component in argv[1:3] for component in FORKING_COMPONENTS)


def load_asset_handlers() -> None:
    """Build one Asset of Knit's URI scheme, so Airflow's providers' asset URI handlers are loaded in this process
    (what building the first KnitAsset would do)."""
    from airflow.sdk import Asset

    Asset(name="knit-warm-up", uri="knit://warm-up")


class KnitTaskWarmup:
    @hookimpl
    def on_starting(self, component: object) -> None:
        if not forks_knit_processes(sys.argv):
            return
        steps = [lambda name=name: importlib.import_module(name) for name in TASK_MODULES]
        if "dag-processor" in sys.argv[1:3]:
            steps.append(load_asset_handlers)
        for step in steps:
            try:
                step()
            except Exception:
                log.exception("Knit's warm-up step failed; each task or parse does it itself")


warmup = KnitTaskWarmup()
