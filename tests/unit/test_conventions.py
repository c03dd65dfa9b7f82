"""Provider conventions checked on the source (issue 18): Airflow version gates live in our own
``version_compat``, never in another provider's private module nor in ad-hoc ``try: import`` fallbacks."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "knit_provider"
OURS = "knit_provider.version_compat"

pytestmark = pytest.mark.conventions


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if ".venv" not in p.parts)


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_version_gates_go_through_our_version_compat(path: Path) -> None:
    tree = ast.parse(path.read_text())
    borrowed = [
        name
        for node in ast.walk(tree)
        for name in _imported(node)
        if name.endswith(".version_compat") and name != OURS and not name.startswith(OURS + ".")
    ]
    assert not borrowed, f"imports another package's private version gates: {borrowed}; use {OURS}"
    if path.stem == "version_compat":
        return
    for node in ast.walk(tree):
        assert "airflow.__version__" not in _imported(node), f"line {node.lineno}: gate on {OURS} instead"
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            tried = [name for inner in node.body for sub in ast.walk(inner) for name in _imported(sub)]
            airflow = [n for n in tried if n == "airflow" or n.startswith("airflow.")]
            assert not airflow, f"line {node.lineno}: an ImportError fallback around {airflow}: gate in {OURS}"


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


# ---- get_provider_info lists only what exists and is used -------------------------------------------------------

#: provider-info section -> the Airflow base class its modules' entries must be
SECTIONS = {
    "hooks": "airflow.sdk.BaseHook",
    "operators": "airflow.sdk.BaseOperator",
    "sensors": "airflow.sdk.BaseSensorOperator",
    "triggers": "airflow.triggers.base.BaseTrigger",
}
#: what may use a listed class: the package, its DAG file, and the examples' DAGs (operators made for users' DAGs)
USERS = [
    *modules(),
    *sorted((PACKAGE.parent / "dags").glob("*.py")),
    *sorted((PACKAGE.parent / "examples").glob("**/dags/*.py")),
]


def _names_used(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    return names


def _used_elsewhere(name: str, defined_in: Path) -> bool:
    """Some module other than its own (and the provider info) uses ``name``: a class nothing uses is dead weight."""
    return any(
        name in _names_used(path) for path in USERS if path != defined_in and path.name != "get_provider_info.py"
    )


def _documented_for_users(name: str) -> bool:
    """A class made for users' own DAGs (a sensor, an operator) counts as used when the docs show it."""
    docs = [PACKAGE.parent / "README.md", *sorted((PACKAGE.parent / "docs").glob("*.md"))]
    return any(f"{name}(" in path.read_text() for path in docs)


def _import(dotted: str) -> object:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _listed_modules(info: dict) -> list[tuple[str, str]]:
    return [
        (section, module)
        for section in SECTIONS
        for entry in info.get(section, [])
        for module in entry["python-modules"]
    ]


def test_provider_info_modules_exist_and_their_classes_are_used() -> None:
    from knit_provider.get_provider_info import get_provider_info

    listed = _listed_modules(get_provider_info())
    assert listed, "the provider info lists its modules"
    for section, name in listed:
        module = importlib.import_module(name)
        base = _import(SECTIONS[section])
        classes = [c for c in vars(module).values() if isinstance(c, type) and issubclass(c, base)]
        own = [c for c in classes if c.__module__ == name]
        assert own, f"{section}: {name} defines no {base.__name__}"
        used = [
            c.__name__
            for c in own
            if _used_elsewhere(c.__name__, Path(module.__file__)) or _documented_for_users(c.__name__)
        ]
        assert used, f"{section}: {name} is listed, but nothing uses its {[c.__name__ for c in own]}"


def test_provider_info_class_paths_import() -> None:
    from knit_provider.get_provider_info import get_provider_info

    info = get_provider_info()
    paths = [
        *(c["hook-class-name"] for c in info["connection-types"]),
        *info["extra-links"],
        *(p["plugin-class"] for p in info["plugins"]),
        *info.get("db-managers", []),
    ]
    for path in paths:
        assert isinstance(_import(path), type), path
