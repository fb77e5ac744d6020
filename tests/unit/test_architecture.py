"""docs/architecture.md holds: imports point one way (src -> ew -> opskit, the local runner above them
all), and every place the doc names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
FOLDERS = {
    "opskit": ROOT / "layers" / "shared" / "opskit",
    "ew": ROOT / "layers" / "shared" / "ew",
    "src": ROOT / "src",
}
# What each may not import: the local runner (ew_local) and the handlers (`app` modules, loaded by path)
# sit above the layer; opskit stays free of the watcher.
FORBIDDEN = {
    "opskit": {"ew", "ew_local", "app", "src"},
    "ew": {"ew_local", "app", "src"},
    "src": {"ew_local"},
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in a file, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(folder: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {package}"
        for path in sorted(FOLDERS[folder].rglob("*.py"))
        for line, package in imported_packages(path)
        if package in FORBIDDEN[folder]
    ]


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_imports_point_one_way(folder: str) -> None:
    assert violations(folder) == []


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text(
        "import json\n\ndef f():\n    from ew_local.cloud import LocalCloud\n    import ew.chain\n"
    )
    assert imported_packages(module) == [(1, "json"), (4, "ew_local"), (5, "ew")]


def test_every_place_the_doc_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = re.findall(r"\[[^\]]+\]\(\.\./([^)]+)\) `([\w.]+)`", text)
    assert len(named) >= 20
    for link, name in named:
        path = ROOT / link
        assert path.is_file(), link
        tree = ast.parse(path.read_text(encoding="utf-8"))
        scope: list[ast.stmt] = tree.body
        for part in name.split("."):  # `ChainStore.claim`: the method inside the class
            found = [
                n
                for n in scope
                if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef) and n.name == part
            ]
            assert found, f"{link} defines no {name}"
            scope = found[0].body


def test_the_readme_points_to_the_doc() -> None:
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")
