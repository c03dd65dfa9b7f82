"""The plugin's warm-up listener, through Airflow's own listener manager (the plugin loaded from its entry point,
as every component loads it): a starting scheduler or DAG processor imports Knit's task modules before it forks
workers and parses; other components import nothing more."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from knit_provider.api.warmup import TASK_MODULES

SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.argv = ["airflow", *sys.argv[1:]]
    from airflow.listeners.listener import get_listener_manager
    before = [m for m in {modules!r} if m in sys.modules]
    get_listener_manager().hook.on_starting(component=None)  # what a Job does as it starts
    after = [m for m in {modules!r} if m in sys.modules]
    from knit_provider.assets import KnitAsset
    loaded = len(sys.modules)
    KnitAsset(["a:b"])  # what every parse of a DAG file declaring KnitAssets does
    print(json.dumps({{"before": before, "after": after, "asset_imports": len(sys.modules) - loaded}}))
    """
)


def on_starting(tmp_path: Path, *argv: str) -> dict:
    env = dict(os.environ, AIRFLOW_HOME=str(tmp_path / "airflow"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(modules=list(TASK_MODULES)), *argv],
        capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("component", [["scheduler"], ["dag-processor"]])
def test_a_forking_component_imports_the_task_modules_as_it_starts(tmp_path, component) -> None:
    seen = on_starting(tmp_path, *component)
    assert seen["before"] == [], "nothing imported them before the component started"
    assert seen["after"] == list(TASK_MODULES)
    if component == ["dag-processor"]:  # its parses build KnitAssets: Airflow's asset handlers are loaded already
        assert seen["asset_imports"] == 0


def test_other_components_import_nothing_more(tmp_path) -> None:
    seen = on_starting(tmp_path, "db", "migrate")
    assert (seen["before"], seen["after"]) == ([], [])
    assert seen["asset_imports"] > 10, "the first KnitAsset loads Airflow's asset handlers (what the warm-up saves)"
