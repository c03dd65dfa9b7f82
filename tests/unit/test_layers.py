"""The house rules of DESIGN.md section 4, checked on the source: dependencies point down, Airflow stays in
the adapters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "knit_provider"
AIRFLOW_ALLOWED = {"hooks", "operators", "sensors", "triggers", "api"}
#: what each layer may import from the project (besides itself)
MAY_IMPORT = {
    "core": set(),
    "catalog": {"core"},
    "storage": {"core"},
    "runners": {"core"},
    "airflow_client": {"core"},
    "remote": {"core"},
    "service": {"core", "catalog", "storage", "runners", "airflow_client"},
    "local": set(),
    "testing": {"core", "runners"},
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
