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
