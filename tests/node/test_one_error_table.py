"""Issue 11 item 1: one table (node/errors.py `STATUS_BY_CODE`) gives each workflow error its
HTTP status. Workflow modules written since keep their own statuses (a `_STATUS` table or an
`http_status` set by hand); they are listed here as debt to move into the table, and no
other module may join them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The HTTP layer answers with statuses by design (node/problems.py `Problem`).
HTTP_LAYER = {"errors", "problems", "routes", "web", "gateway", "api", "app"}
# Workflow modules that still give statuses themselves (found by the audit of issue 11,
# /work/notes/issue11_16_audit.md). Remove a module here when its errors move into the table.
KNOWN_OWN_STATUSES = {
    "backpack",
    "challenges",
    "claim_proof",
    "claims",
    "config",
    "course_limits",
    "courses",
    "crawler_report",
    "earner_lookup",
    "holder",
    "mail",
    "mail_claims",
    "nodelog",
    "trust",
}


def _declares_routes(tree: ast.Module) -> bool:
    for statement in tree.body:
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else []
        )
        if any(isinstance(target, ast.Name) and target.id == "ROUTES" for target in targets):
            return True
    return False


def _sets_a_status(tree: ast.Module) -> bool:
    """Whether the module assigns `http_status` (on a class, an instance or an error)."""
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name) and target.id == "http_status":
                return True
            if isinstance(target, ast.Attribute) and target.attr == "http_status":
                return True
    return False


def modules_with_own_statuses(root: Path = ROOT) -> set[str]:
    found = set()
    for path in sorted((root / "node").glob("*.py")):
        if path.stem in HTTP_LAYER or path.stem.endswith("_routes"):
            continue
        tree = ast.parse(path.read_text(), str(path))
        if not _declares_routes(tree) and _sets_a_status(tree):
            found.add(path.stem)
    return found


def test_no_new_workflow_module_gives_statuses_outside_the_table() -> None:
    found = modules_with_own_statuses()
    assert found - KNOWN_OWN_STATUSES == set(), "map these errors in node/errors.py"
    assert KNOWN_OWN_STATUSES - found == set(), "moved into the table: drop them from the list"


def test_the_check_finds_a_status_given_by_hand(tmp_path: Path) -> None:
    (tmp_path / "node").mkdir()
    (tmp_path / "node" / "thing.py").write_text(
        "class ThingError(Exception):\n    http_status = 409\n"
    )
    (tmp_path / "node" / "other.py").write_text("def f(error):\n    error.http_status = 404\n")
    (tmp_path / "node" / "thing_routes.py").write_text("ROUTES = ()\nhttp_status = 1\n")
    (tmp_path / "node" / "clean.py").write_text("from .errors import NodeError\n")
    assert modules_with_own_statuses(tmp_path) == {"thing", "other"}
