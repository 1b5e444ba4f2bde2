"""The private log end to end, one OS process per node, driven by the `badgechain` CLI:
an earner's persona, collection and hide reach its /log and /feed.atom only as sealed
commitments; `log verify URL` still passes; `log open SEQ` opens each one through the
running node's admin API (its database is locked while it runs)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.node.test_e2e import NodeProcess, _network, bc, eventually, nodes  # noqa: F401

pytestmark = pytest.mark.slow


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (loopback URL)
        return str(answer.read().decode())


def test_private_actions_are_sealed_and_open_for_the_owner(
    tmp_path: Path,
    nodes: list[NodeProcess],  # noqa: F811 (the fixture)
) -> None:
    issuer, earner = _network(tmp_path, nodes, ["issuer", "earner"])
    class_id = bc(
        issuer.home, "class", "create", "--name", "Logs", "--description", "d", "--criteria", "c"
    ).stdout.strip()
    uids = []
    for _ in range(2):
        uid = bc(issuer.home, "issue", "--class", class_id, "--to", earner.did).stdout.strip()

        def delivered(uid: str = uid) -> bool:
            return uid in bc(earner.home, "inbox").stdout

        eventually(delivered, 30, "delivery")
        bc(earner.home, "accept", uid)
        uids.append(uid)
    persona_name = "Quiet Heron"
    bc(earner.home, "persona", "new", "--name", persona_name)
    collection = json.loads(
        bc(earner.home, "collection", "create", "Secret shelf", uids[0], "--json").stdout
    )
    bc(earner.home, "hide", uids[1])

    log = _get(f"{earner.gateway}/log?limit=1000")
    feed = _get(f"{earner.gateway}/feed.atom")
    for text in (log, feed):
        for secret in (collection["id"], persona_name, "Secret shelf", '"hide"', "hid badge"):
            assert secret not in text, secret
    entries = json.loads(log)["entries"]
    sealed = [entry["seq"] for entry in entries if entry["action"] == "sealed"]
    assert len(sealed) == 3  # the persona, the collection, the hide

    verified = bc(earner.home, "log", "verify", earner.gateway, "--did", earner.did)
    assert verified.stdout.startswith(f"log ok: {len(entries)} entries")
    opened = [json.loads(bc(earner.home, "log", "open", str(seq)).stdout) for seq in sealed]
    assert [entry["action"] for entry in opened] == ["persona", "collection", "hide"]
    assert opened[0]["details"]["name"] == persona_name
    assert opened[1]["subject"] == collection["id"]
    assert opened[2]["subject"] == uids[1]
    assert all(entry["sealed"] and len(entry["salt"]) == 64 for entry in opened)
