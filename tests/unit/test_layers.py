"""The house rules of DESIGN.md section 4, checked on the source: dependencies point down, Airflow stays in
the adapters."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "knit_provider"
#: the Airflow adapters; ``version_compat`` (Airflow version gates) and ``db_manager`` (``airflow db migrate``) too
AIRFLOW_ALLOWED = {
    "hooks", "operators", "sensors", "triggers", "dags", "api", "listeners", "notifications", "version_compat",
    "db_manager", "assets",
}  # fmt: skip
#: what each layer may import from the project (besides itself)
MAY_IMPORT = {
    "core": set(),
    "catalog": {"core"},
    "storage": {"core"},
    "runners": {"core"},
    "airflow_client": {"core"},
    "remote": {"core", "storage"},  # packs uploads with the store's own tree reader and checks
    "service": {"core", "catalog", "storage", "runners"},
    # the Airflow adapters stand side by side above the service, as in Airflow's own providers: each reaches the
    # service and the hooks (and a sensor or a deferrable operator its trigger), never another adapter kind
    "hooks": {"core", "service", "version_compat"},
    "triggers": {"core", "service", "hooks", "version_compat"},
    "sensors": {"core", "service", "hooks", "triggers", "listeners", "version_compat"},
    "operators": {"core", "service", "hooks", "triggers", "runners", "listeners", "version_compat"},
    # Knit's Airflow listener spec and its publisher, and the notifiers Plans name (beyond Knitfab)
    "listeners": {"core", "service", "version_compat"},
    "notifications": {"core", "service"},
    # the DAGs Knit generates, built from both operators and sensors
    # KnitAsset (Airflow's Asset of Knit Data) and its watcher's trigger, as a sensor stands on its trigger
    "assets": {"core", "service", "hooks", "triggers", "version_compat"},
    "dags": {"core", "service", "hooks", "operators", "sensors", "notifications", "assets", "version_compat"},
    "api": {"core", "service", "hooks", "airflow_client", "version_compat"},
    "cli": {"core", "service", "remote", "airflow_client"},
    "stager": {"core", "storage"},  # runs in a Run's pod: the store and nothing of the catalog or Airflow
}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if ".venv" not in p.parts)


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else path.stem


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_airflow_only_in_the_adapters_and_dependencies_point_down(path: Path) -> None:
    layer = layer_of(path)
    found = imports_of(path)
    if layer not in AIRFLOW_ALLOWED:
        assert not [n for n in found if n == "airflow" or n.startswith("airflow.")], f"{layer} imports Airflow"
    ours = {n.split(".")[1] for n in found if n.startswith("knit_provider.") and n.count(".") >= 1}
    assert "cli" not in ours or layer == "cli", "nothing imports the CLI"
    if layer in MAY_IMPORT:
        assert ours - {layer} <= MAY_IMPORT[layer], (
            f"{layer} reaches up to {sorted(ours - {layer} - MAY_IMPORT[layer])}"
        )


#: what the service may take from SQLAlchemy: the types of the connection it passes down, and its errors
SERVICE_MAY_TAKE_FROM_SQLALCHEMY = {"sqlalchemy": {"Connection", "Engine"}, "sqlalchemy.exc": None}  # None: any


def catalog_tables() -> set[str]:
    """Names of the table objects ``catalog.models`` defines (its constants, such as ``UPLOAD_PLAN_ID``, are not)."""
    from sqlalchemy import Table

    from knit_provider.catalog import models

    return {name for name, value in vars(models).items() if isinstance(value, Table)}


def query_building_in(path: Path, tables: set[str]) -> list[str]:
    """What ``path`` imports to build SQL itself: SQLAlchemy's query builders or the catalog's table objects."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [
                alias.name
                for alias in node.names
                if alias.name.split(".")[0] == "sqlalchemy" or alias.name == "knit_provider.catalog.models"
            ]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = {alias.name for alias in node.names}
            if node.module == "knit_provider.catalog.models":
                found += [f"{node.module}.{n}" for n in sorted(names & tables | names & {"*"})]
            elif node.module == "knit_provider.catalog" and "models" in names:  # models.data_t, ...
                found.append("knit_provider.catalog.models")
            elif node.module.split(".")[0] == "sqlalchemy":
                allowed = SERVICE_MAY_TAKE_FROM_SQLALCHEMY.get(node.module, set())
                if allowed is not None:
                    found += [f"{node.module}.{n}" for n in sorted(names - allowed)]
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "service").rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_service_speaks_to_the_catalog_through_catalog_functions(path: Path) -> None:
    """Issue 18: the service opens transactions and calls the catalog's functions; the SQL is the catalog's."""
    found = query_building_in(path, catalog_tables())
    assert not found, (
        f"{path.name} builds SQL itself with {found}: move the query into a knit_provider/catalog function"
    )


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("from sqlalchemy import Connection, Engine", True),
        ("from sqlalchemy.exc import IntegrityError", True),
        ("from knit_provider.catalog.models import UPLOAD_PLAN_ID", True),
        ("from sqlalchemy import Connection, select", False),
        ("from sqlalchemy import func", False),
        ("from sqlalchemy.sql import update", False),
        ("import sqlalchemy as sa", False),
        ("from knit_provider.catalog.models import runs_t", False),
        ("from knit_provider.catalog import models", False),
        ("import knit_provider.catalog.models", False),
    ],
)
def test_the_service_rule_tells_query_building_from_connection_types(
    tmp_path: Path, source: str, allowed: bool
) -> None:
    module = tmp_path / "example.py"
    module.write_text(source + "\n")
    assert (not query_building_in(module, catalog_tables())) is allowed


#: what a Run's task (process runner) and the generator's task import: never the kubernetes client, which costs
#: about 0.25 CPU s per process (every generator pass and every Run is a task process of its own)
WITHOUT_KUBERNETES = [
    "knit_provider.dags.factory",
    "knit_provider.sensors.catalog",
    "knit_provider.operators.run",
    "knit_provider.service.reconciliation",
    "knit_provider.api.plugin",
]


def test_the_tasks_of_the_process_runner_never_import_the_kubernetes_client() -> None:
    probe = (
        "import importlib, sys\n"
        f"for name in {WITHOUT_KUBERNETES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]", f"imported by one of {WITHOUT_KUBERNETES}: {done.stdout.strip()}"
