"""No check in the packages is an `assert` (issue 11): `python -O` drops them, so a check that
must hold is a real one (a Problem, a BadgeChainError) or a type that cannot be wrong."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("chain", "bns", "node", "storage", "cli")


def asserts_in(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Each `assert` statement in the packages' modules, as path:line."""
    found: list[str] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            found += [
                f"{path.relative_to(root)}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.Assert)
            ]
    return found


def test_packages_have_no_runtime_asserts() -> None:
    assert asserts_in() == []


def test_the_check_finds_an_assert(tmp_path: Path) -> None:
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "a.py").write_text("def f(x):\n    assert x\n    return x\n")
    (tmp_path / "node" / "b.py").write_text('"""assert in a docstring is no statement."""\n')
    assert asserts_in(tmp_path) == ["node/a.py:2"]


def test_every_package_is_covered() -> None:
    """A new top-level package is checked too, or named here on purpose."""
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    assert packages - {"tests", "benchmarks", "typings"} == set(PACKAGES)
