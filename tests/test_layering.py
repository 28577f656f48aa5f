"""The order of the domain (docs/architecture.md) holds, and the checks that keep it can fail.

``lint-imports`` (pyproject's contracts) runs in scripts/test.sh; these tests add what it does
not see — an import hidden inside a function, which is how a cycle hides — and prove, on a
copy of the package, that both checks fail when an import against the order is added."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "roomwarden"
#: The command line may import inside a command: it keeps `roomwarden --help` fast.
ENTRY_POINTS = ("cli",)
#: Migrations are history: what a revision did must not change with later code.
HISTORY = ("migrations",)


def hidden_imports(package: Path) -> list[str]:
    """``file:line -> module`` for every import of a roomwarden module inside a function,
    outside the command line."""
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.parts[0] in ENTRY_POINTS + HISTORY:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                for module in _imported(node):
                    if module.split(".")[0] == PACKAGE:
                        found.append(f"{rel}:{node.lineno} -> {module}")
    return found


def package_cycles(package: Path) -> list[list[str]]:
    """Strongly connected groups of top-level packages, imports of ``*.models`` aside."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.parts[0] in HISTORY:
            continue
        me = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for module in _imported(node):
                parts = module.split(".")
                if parts[0] == PACKAGE and len(parts) > 1 and parts[1] != me and parts[-1] != "models":
                    edges[me].add(parts[1])
    return _strongly_connected(edges)


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module]
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return []


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def test_no_roomwarden_import_is_hidden_in_a_function() -> None:
    assert hidden_imports(ROOT / PACKAGE) == []


def test_the_packages_import_each_other_in_one_order() -> None:
    assert package_cycles(ROOT / PACKAGE) == []


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / PACKAGE).rglob("*.py")
        if p.relative_to(ROOT / PACKAGE).parts[0] not in HISTORY
        and (n := len(p.read_text().splitlines())) > 600
    }
    assert long == {}


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package and its contracts, copied so that a test may break them."""
    where = tmp_path_factory.mktemp("layering")
    shutil.copytree(ROOT / PACKAGE, where / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", where / "pyproject.toml")
    return where


def _lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(where)}
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(exe), "--no-cache"], cwd=where, env=env, capture_output=True, text=True, timeout=300
    )


def _append(path: Path, text: str) -> str:
    before = path.read_text()
    path.write_text(before + text)
    return before


def test_the_contract_passes_on_the_copy(copy: Path) -> None:
    result = _lint_imports(copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("access/service.py", "from roomwarden.partners import links\n"),  # the knot this order untied
        ("audit/service.py", "from roomwarden.access import resolver\n"),  # audit is a service for all
        ("kit/db.py", "from roomwarden import settings\n"),  # kit imports no package of ours
        ("rooms/service.py", "from roomwarden.approvals import service as approvals\n"),
        ("access/service.py", "from roomwarden.api import rooms\n"),  # routes are entry points
    ],
)
def test_an_import_against_the_order_fails_the_contract(copy: Path, module: str, upward: str) -> None:
    path = copy / PACKAGE / module
    before = _append(path, upward)
    try:
        result = _lint_imports(copy)
        assert result.returncode != 0, result.stdout
        assert "BROKEN" in result.stdout
    finally:
        path.write_text(before)


def test_a_cycle_between_packages_is_found(copy: Path) -> None:
    path = copy / PACKAGE / "access" / "service.py"
    before = _append(path, "from roomwarden.partners import links\n")
    try:
        assert ["access", "partners"] in [
            [p for p in group if p in ("access", "partners")] for group in package_cycles(copy / PACKAGE)
        ]
    finally:
        path.write_text(before)


def test_a_function_level_import_is_found(copy: Path) -> None:
    path = copy / PACKAGE / "rooms" / "service.py"
    before = _append(path, "\n\ndef _late() -> None:\n    from roomwarden.partners import links  # noqa\n")
    try:
        line = len(before.splitlines()) + 4
        assert hidden_imports(copy / PACKAGE) == [f"rooms/service.py:{line} -> roomwarden.partners"]
    finally:
        path.write_text(before)
