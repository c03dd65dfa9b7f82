"""Knit's task modules, imported once by the components that fork Knit's processes, before they fork.

A Run's task runs in a process the scheduler's LocalExecutor workers fork, and the DAG processor forks a process
for every parse of Knit's DAG file; both import Knit's DAG factory, its run operator and the process runner. Made in
the forking parent as the component starts (before the scheduler starts its executor's workers), those imports are
inherited: every Run's task and every parse skips them (about 0.05 CPU s each, ``bench/fanout.py``). Nothing runs:
the modules only define things. A module that fails to import is logged and left to the task, which reports it.
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


class KnitTaskWarmup:
    @hookimpl
    def on_starting(self, component: object) -> None:
        if not forks_knit_processes(sys.argv):
            return
        for name in TASK_MODULES:
            try:
                importlib.import_module(name)
            except Exception:
                log.exception("could not import %s ahead of Knit's tasks; each task imports it itself", name)


warmup = KnitTaskWarmup()
