"""Which code may import which, read from the sources: the benchmarks and scripts never
import the test suite, the shipped packages import neither the tests nor the harness
(`scripts/`), and the harness's process launchers and temporary databases are not shipped."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("registry_service", "serving", "trade2026_assets")
# Not in the wheel, but deployed beside it (the Feast repository is mounted).
DEPLOYED = (*SHIPPED, "feature_repo")


def sources(top: str) -> list[Path]:
    found = sorted((REPO / top).rglob("*.py"))
    assert found, f"no Python sources under {top}/"
    return found


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in the file, at any depth (lazy ones too)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def offending_imports(tops: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for top in tops
        for path in sources(top)
        for line, module in imported_modules(path)
        if module.split(".")[0] in forbidden
    ]


def test_benchmarks_and_scripts_never_import_the_tests() -> None:
    assert offending_imports(("bench", "scripts"), ("tests",)) == []


@pytest.mark.parametrize("package", DEPLOYED)
def test_shipped_packages_import_neither_tests_nor_the_harness(package: str) -> None:
    assert offending_imports((package,), ("tests", "scripts", "bench")) == []


@pytest.mark.parametrize("package", ["registry_service", "serving"])
def test_the_servers_start_no_processes_and_make_no_databases(package: str) -> None:
    """Launching servers and creating throw-away databases is the harness's job."""
    found = [
        f"{path.relative_to(REPO)}: {marker}"
        for path in sources(package)
        for marker in ("subprocess", "temporary_postgres_database", "CREATE DATABASE")
        if marker in path.read_text()
    ]
    assert found == []


def test_the_wheel_ships_the_packages_and_not_the_harness() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert sorted(packages) == sorted(SHIPPED)


def test_the_imports_scan_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The scan itself: a lazy import inside a function counts, a relative one does not."""
    module = tmp_path / "module.py"
    module.write_text(
        "from . import sibling\n"
        "def f():\n"
        "    from tests.conftest import x\n"
        "    import scripts.harness.registry\n"
    )
    assert list(imported_modules(module)) == [
        (3, "tests.conftest"),
        (4, "scripts.harness.registry"),
    ]
