"""node/ reaches the DHT only through bns/ services (issue 11, "Delivery reaches the DHT past
NameService"): NameService (bns/service.py) for badge records and indexes, InboxRecords
(bns/inbox_records.py) for inbox announcements, PeerBoards (bns/peer_boards.py) for peer
boards. A module of node/ that used the services' `.dht`, or DhtNode, directly would skip
what those services keep (NameService's answer cache sees its own writes at once)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The modules that build the services, each with why it holds the DHT node itself.
ALLOWED = {
    "node/app.py": "starts the DhtNode, hands it to the bns/ services, stops it",
    "node/services.py": "declares the services and reports the DHT node's address and health",
}


def dht_reaches(source: str) -> list[str]:
    """Each use of a `.dht` attribute (other than `settings.dht`, the configuration) and each
    import of DhtNode, as `line: what` in line order."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "dht":
            owner = node.value
            is_settings = (isinstance(owner, ast.Attribute) and owner.attr == "settings") or (
                isinstance(owner, ast.Name) and owner.id == "settings"
            )
            if not is_settings:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("bns.dht"):
            found += [f"{node.lineno}: imports DhtNode" for a in node.names if a.name == "DhtNode"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").endswith("bns"):
            found += [f"{node.lineno}: imports bns.dht" for a in node.names if a.name == "dht"]
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: imports {a.name}" for a in node.names if a.name.endswith("bns.dht")
            ]
    return sorted(found, key=lambda hit: int(hit.split(":")[0]))


def test_node_reaches_the_dht_only_through_bns_services() -> None:
    reaches = {}
    for path in sorted((ROOT / "node").rglob("*.py")):
        name = str(path.relative_to(ROOT))
        if name not in ALLOWED:
            found = dht_reaches(path.read_text())
            if found:
                reaches[name] = found
    assert reaches == {}


def test_the_allowed_modules_exist_and_do_hold_the_dht_node() -> None:
    for name in ALLOWED:
        assert dht_reaches((ROOT / name).read_text()), f"{name} no longer needs its place"


def test_the_check_sees_a_reach_past_the_services() -> None:
    bad = (
        "from badgechain.bns.dht import DhtNode, StoreResult\n"
        "async def f(node):\n"
        "    await node.dht.publish(b'')\n"
        "    return node.settings.dht.write_quorum, services.dht\n"
    )
    assert dht_reaches(bad) == ["1: imports DhtNode", "3: node.dht", "4: services.dht"]
    assert dht_reaches("from badgechain.bns.dht import StoreResult\nx = settings.dht\n") == []
