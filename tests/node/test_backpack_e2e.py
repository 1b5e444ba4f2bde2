"""The backpack, collections and the trust registry end to end (issue 14 items 3 and 6): one
OS process per node, every step a `badgechain` command. The earner imports a badge, lists,
collects, exports; a new home restores it from the export (key still encrypted); a
verifier's registry names the issuer in every report; with the old node gone, the restored
node publishes the badges' locations, so `verify --online` still answers valid."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from badgechain.chain.keystore import key_file_is_encrypted
from tests.node.test_e2e import (  # noqa: F401 (nodes: the fixture)
    NodeProcess,
    _lookup,
    _network,
    bc,
    eventually,
    nodes,
)

pytestmark = pytest.mark.slow

NAME_ARGS = ("--description", "D", "--criteria", "C")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (loopback)
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_import_collect_export_restore_and_trust_across_processes(
    tmp_path: Path,
    nodes: list[NodeProcess],  # noqa: F811 (the fixture)
) -> None:
    issuer, earner, verifier = _network(tmp_path, nodes, ["issuer", "earner", "verifier"])
    class_id = bc(issuer.home, "class", "create", "--name", "Delivered", *NAME_ARGS).stdout
    uid = bc(issuer.home, "issue", "--class", class_id.strip(), "--to", earner.did).stdout.strip()
    eventually(lambda: uid in bc(earner.home, "inbox").stdout, 30, "delivery to the inbox")
    bc(earner.home, "accept", uid)

    # A badge from an issuer outside BadgeChain's network (a key that signs offline only),
    # brought in as a file.
    outside = tmp_path / "outside"
    bc(outside, "keys", "new", "--no-passphrase")
    signed = tmp_path / "signed.json"
    args = ("issue", "--offline", "--to", earner.did, "--name", "Brought in", *NAME_ARGS)
    bc(outside, *args, "--out", str(signed))
    assert "accepted)" in bc(earner.home, "import", str(signed)).stdout
    held = json.loads(bc(earner.home, "badges", "--json").stdout)
    assert {(b["name"], b["source"], b["state"]) for b in held} == {
        ("Delivered", "delivered", "accepted"),
        ("Brought in", "imported", "accepted"),
    }

    # A collection, edited and deleted; each badge's status shown.
    made = json.loads(bc(earner.home, "collection", "create", "Shelf", uid, "--json").stdout)
    public = f"{earner.gateway}/collections/{made['id']}"
    assert _status(public) == 200
    bc(earner.home, "collection", "edit", made["id"], "--name", "Top shelf")
    shown = json.loads(bc(earner.home, "collection", "show", made["id"], "--json").stdout)
    assert shown["name"] == "Top shelf" and shown["badges"][0]["status"] == "shown"
    bc(earner.home, "collection", "delete", made["id"])
    assert _status(public) == 404

    # The verifier's registry, in every report it gives.
    bc(verifier.home, "trust", "add", issuer.did, "--name", "E2E Issuer")
    report = json.loads(bc(verifier.home, "verify", "--online", "--json", uid).stdout)
    trust = next(c for c in report["checks"] if c["name"] == "trust")
    assert (trust["status"], trust["message"]) == ("passed", "trusted as E2E Issuer")

    # Export; a new home of the same earner restores it, the key still encrypted.
    exported = tmp_path / "backpack.json"
    bc(earner.home, "export", "--out", str(exported))
    assert key_file_is_encrypted(json.loads(exported.read_text())["keyFile"].encode())
    restored = NodeProcess(tmp_path / "restored")
    first = bc(restored.home, "import", str(exported))
    assert "badgechain init" in first.stdout, first
    assert key_file_is_encrypted((restored.home / "key.json").read_bytes())
    restored.init(bootstrap=issuer.dht)
    assert restored.did == earner.did
    restored.start()
    nodes.append(restored)
    # The old machine is gone; the delivered badge's location moves to the restored node.
    assert earner.stop() == 0
    answer = bc(restored.home, "import", str(exported)).stdout
    assert "restored 2 badges; moving 1 locations to this node" in answer, answer
    again = json.loads(bc(restored.home, "badges", "--json").stdout)
    assert sorted(b["name"] for b in again) == ["Brought in", "Delivered"]
    moved = [f"{restored.gateway}/badges/{uid}.json"]
    eventually(
        lambda: _lookup(verifier.home, uid)["location"]["urls"] == moved,
        30,
        "the restored node publishes the badge's location",
    )
    report = json.loads(bc(verifier.home, "verify", "--online", "--json", uid).stdout)
    assert report["verdict"] == "valid", report
