"""The dependency arrows of DESIGN.md hold: cli → node → bns → chain, node/bns → storage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("chain", "bns", "storage", "node", "cli")
ALLOWED = {
    "chain": set(),
    "storage": {"chain"},
    "bns": {"chain", "storage"},
    "node": {"chain", "bns", "storage"},
    "cli": {"chain", "bns", "storage", "node"},
}
# chain/ is the pure core: no event loop, network, database or CLI framework.
CHAIN_FORBIDDEN = {
    "asyncio",
    "aiohttp",
    "plyvel",
    "kademlia",
    "click",
    "socket",
    "requests",
    "urllib.request",
}
SINGLE_ADAPTER = {"kademlia": "bns/dht.py", "plyvel": "storage/"}
# The BNS record logic is pure too (DESIGN.md): only dht.py and service.py touch the network.
BNS_PURE = ("record.py", "index.py", "inbox.py", "values.py", "wire.py", "errors.py")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import stays inside its own package unless it climbs
                if node.level > 1:
                    names.add(f"badgechain.{(node.module or '').split('.')[0]}")
            elif node.module:
                names.add(node.module)
    return names


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_downward(package: str) -> None:
    for path in _sources(package):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "badgechain" and len(parts) > 1 and parts[1] != package:
                assert parts[1] in ALLOWED[package], f"{path.relative_to(ROOT)} imports {name}"


def test_chain_is_pure() -> None:
    for path in _sources("chain"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in CHAIN_FORBIDDEN and name not in CHAIN_FORBIDDEN, (
                f"{path.relative_to(ROOT)} imports {name}"
            )


@pytest.mark.parametrize("module", BNS_PURE)
def test_bns_record_logic_is_pure(module: str) -> None:
    path = ROOT / "bns" / module
    for name in _imports(path):
        top = name.split(".")[0]
        assert top not in CHAIN_FORBIDDEN and not name.startswith("badgechain.storage"), (
            f"bns/{module} imports {name}"
        )


def test_untyped_dependencies_have_one_adapter() -> None:
    for module, home in SINGLE_ADAPTER.items():
        for package in PACKAGES:
            for path in _sources(package):
                if module in {name.split(".")[0] for name in _imports(path)}:
                    assert str(path.relative_to(ROOT)).startswith(home), f"{path} imports {module}"


def test_the_layering_check_catches_a_wrong_arrow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import asyncio\nfrom badgechain.node import x\n")
    assert {"asyncio", "badgechain.node"} <= _imports(bad)


# --- arrows inside a package -----------------------------------------------------------------

# Cycles that predate this check, each with what would break it. Nothing may join them.
KNOWN_CYCLES: dict[str, list[set[str]]] = {}
# node/'s HTTP layer: the route modules (each declares its `ROUTES`: node/routes.py), the
# declarations, registration and OpenAPI document, and what only they share. Workflow modules
# (everything else in node/) never import these; app.py composes both.
NODE_HTTP_SHARED = {"app", "web", "routes", "api", "problems"}


def _declares_routes(path: Path) -> bool:
    """A module that assigns `ROUTES` at its top level is a route module."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == "ROUTES" for target in targets):
            return True
    return False


def _node_route_modules() -> set[str]:
    return {
        path.stem
        for path in (ROOT / "node").glob("*.py")
        if path.stem.endswith("_routes") or _declares_routes(path)
    }


def _node_http_modules() -> set[str]:
    openapi = {path.stem for path in (ROOT / "node").glob("openapi*.py")}
    return NODE_HTTP_SHARED | openapi | _node_route_modules()


def _module_arrows(package: str) -> dict[str, set[str]]:
    """Each module of `package` (a flat folder) and the modules of it that it imports."""
    modules = {path.stem for path in (ROOT / package).glob("*.py")}
    arrows: dict[str, set[str]] = {}
    for name in modules:
        targets: set[str] = set()
        tree = ast.parse((ROOT / package / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    targets.add(node.module.split(".")[0])
                else:
                    targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["badgechain", package]:  # absolute: of it, or from it
                    targets.update(parts[2:3] or [alias.name for alias in node.names])
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[:2] == ["badgechain", package]:
                        targets.update(parts[2:3])
        arrows[name] = (targets & modules) - {name}
    return arrows


def _cycles(arrows: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in sorted(arrows[name]):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == name:
                    break
            if len(group) > 1:
                found.append(group)

    for name in sorted(arrows):
        if name not in index:
            visit(name)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles_inside_a_package(package: str) -> None:
    cycles = _cycles(_module_arrows(package))
    assert sorted(map(sorted, cycles)) == sorted(map(sorted, KNOWN_CYCLES.get(package, [])))


def test_node_workflows_never_import_the_http_layer() -> None:
    """No arrow from a workflow to a route module, nor to anything else of the HTTP layer."""
    http_layer = _node_http_modules()
    assert {"gateway", "verify_routes", "issuer_routes"} <= _node_route_modules()
    for name, targets in _module_arrows("node").items():
        if name not in http_layer:
            assert not targets & http_layer, f"node/{name}.py imports {targets & http_layer}"
            source = (ROOT / "node" / f"{name}.py").read_text()
            assert "aiohttp import web" not in source, f"node/{name}.py uses aiohttp.web"


def test_the_workflow_check_knows_a_route_module(tmp_path: Path) -> None:
    module = tmp_path / "thing.py"
    module.write_text("ROUTES: Final = (Route('GET', '/', get, 'x'),)\n")
    assert _declares_routes(module)
    module.write_text("def f() -> None:\n    ROUTES = ()\n")
    assert not _declares_routes(module)


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
