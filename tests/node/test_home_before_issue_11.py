"""A home written before issue 11's rebuild (typed services, records, pipeline, work queue)
starts and keeps working on the current code.

`homes/before_issue_11.tar.gz` holds node0-node2 of a devnet run by the code of commit
49afb9f (the last before issue 11; `git archive 49afb9f`, with this tree's installed
contexts), made with that version's CLI:

  badgechain devnet                     node0 issues two "Devnet Explorer" badges (U1, U2)
                                        to node1, which accepts them
  badgechain --home node0 issue --class 4Z90uSCQl9I --to <node1>     U3, left in the inbox
  badgechain --home node0 revoke U2 --reason "issued in error"
  badgechain --home node1 collection create "Old collection" U1
  badgechain --home node1 persona new --name "Ada at work"           U4

The nodes start here on new ports; the earner moves its locations as `node start` does
(node/relocation.py), from the gateway its old config.toml names.
"""

from __future__ import annotations

import asyncio
import tarfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from badgechain.chain.keystore import unlock_key
from badgechain.chain.nodelog import verify_log
from badgechain.node.app import Node, RunningNode
from badgechain.node.config import load_config, read_admin_token
from badgechain.node.nodelog import iter_entries, read_head
from badgechain.node.relocation import follow_gateway_url
from badgechain.node.services import NodeSettings
from tests.bns.network import TEST_SETTINGS
from tests.node.conftest import eventually

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ARCHIVE = Path(__file__).parent / "homes" / "before_issue_11.tar.gz"
TIMEOUT = aiohttp.ClientTimeout(total=60)
ISSUER_DID = "did:key:z6MkffitXX3s4RLhY8y1M4WFKXdbNZNuif7rJKQ41qgzf94w"
EARNER_DID = "did:key:z6MkvdyBeHZ7JZVn4Av27HFsQiV96uTqRJ4r3EgCUq4Ux7dJ"
CLASS_ID = "4Z90uSCQl9I"
COLLECTION_ID = "pz1RZ8669HiHl7Udayt5tQ"
U1 = "zFnhKJLMo9atiXegEM8zKXyCWMiBUPeYfU4zLdMEv6jQqQG4ZCASBYQsjGsGrny1saX46pDqDytdMUxnKoYfZetA"
U2 = "z2KFe5zKBe24KHSPWAPAiYBzLEQVEUA8wozwEuMGxiHf9g4ehVKx4Z13ni5PjXzK7BYJs1gpv3iaqffYU6Ti1h2uv"
U3 = "z3Em6cqjwrYDERy4TjMHh4ESSTkPzGioicMACP6wDK1RP6BUuZoDtPQ5SkZyQgKidKj6YXj7sCdKBuLmko5fSthvb"
U4 = "z4JJY3wrnEXaEmY4wL7uPAF3XiRomzB5BmkSmiATfMK8zCVvWrqC8SRLhVeVkDSaF74iRpMQg3gzWHSnEipSsmiFw"


async def _start(home: Path, passphrase: str, seeds: tuple[tuple[str, int], ...]) -> RunningNode:
    key = unlock_key((home / "key.json").read_bytes(), passphrase)
    config = load_config(home).with_overrides(dht_port=0, http_port=0, bootstrap=seeds)
    node = Node(home, key, config, read_admin_token(home), settings=NodeSettings(TEST_SETTINGS))
    async with asyncio.timeout(60):
        return await node.start()


async def _call(node: RunningNode, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {read_admin_token(node.home)}"}
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.request(method, node.gateway_url + path, json=body, headers=headers) as r,
    ):
        return r.status, await r.json(content_type=None)


async def _verdict(verifier: RunningNode, uid: str) -> tuple[str, list[str]]:
    status, report = await _call(verifier, "GET", f"/verify/{uid}")
    assert status == 200, report
    failed = [check["code"] for check in report["checks"] if check["status"] == "failed"]
    return report["verdict"], failed


async def test_a_devnet_home_made_before_issue_11_starts_and_works(tmp_path: Path) -> None:
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(tmp_path, filter="data")
    passphrase = (tmp_path / ".passphrase").read_text()
    nodes: list[RunningNode] = []
    try:
        issuer = await _start(tmp_path / "node0", passphrase, ())
        nodes.append(issuer)
        earner = await _start(tmp_path / "node1", passphrase, (issuer.dht_address,))
        nodes.append(earner)
        verifier = await _start(tmp_path / "node2", passphrase, (issuer.dht_address,))
        nodes.append(verifier)
        assert (issuer.did, earner.did) == (ISSUER_DID, EARNER_DID)

        # The earner's held badges, read from state records the old code wrote.
        status, listed = await _call(earner, "GET", "/admin/badges")
        assert status == 200, listed
        states = {badge["uid"]: badge["state"] for badge in listed["badges"]}
        assert states == {U1: "accepted", U2: "accepted", U3: "inbox", U4: "accepted"}

        # The old BNS records answer. U2's location (the old port) is gone, so the verifier
        # says so in words (issue 16 item 9), naming the location whole.
        status, problem = await _call(verifier, "GET", f"/verify/{U2}")
        assert (status, problem["code"]) == (503, "location_unreachable"), problem
        old_location = f"http://127.0.0.1:40839/badges/{U2}.json"
        assert problem["detail"].endswith(f"{old_location}: the connection was refused")

        # As `node start` does: the earner moves what it published under the gateway its
        # config.toml names (the old home has no gateway-url file) to where it serves now:
        # two accepted badges and the persona. Then it accepts U3.
        assert await follow_gateway_url(earner) == 3
        status, accepted = await _call(earner, "POST", "/admin/accept", {"uid": U3})
        assert status == 200, accepted
        for uid in (U1, U3, U4):
            assert await _verdict(verifier, uid) == ("valid", []), uid
        assert await _verdict(verifier, U2) == ("invalid", ["revoked"])  # the old revocation

        # The issuer issues anew from its old class record; the badge reaches the old inbox.
        body = {"class_id": CLASS_ID, "to": EARNER_DID}
        status, issued = await _call(issuer, "POST", "/admin/issue", body)
        assert status == 201 and issued["published"], issued

        async def delivered() -> bool:
            _, inbox = await _call(earner, "GET", "/admin/inbox")
            return any(badge["uid"] == issued["uid"] for badge in inbox["badges"])

        await eventually(delivered, timeout=60)

        # ...and revokes an old badge of its own: the verifier sees it.
        body = {"uid": U1, "reason": "revoked after the upgrade"}
        status, revoked = await _call(issuer, "POST", "/admin/revoke", body)
        assert status == 200, revoked
        assert await _verdict(verifier, U1) == ("invalid", ["revoked"])

        # The old collection is still served; each node's log, old entries and new, verifies.
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.get(f"{earner.gateway_url}/collections/{COLLECTION_ID}") as page,
        ):
            assert page.status == 200
        for node in (issuer, earner):
            verdict = verify_log(
                iter_entries(node.store), signer_did=node.did, head=read_head(node.store)
            )
            assert verdict.ok and verdict.count >= 5, verdict
    finally:
        for node in reversed(nodes):
            await node.stop()
