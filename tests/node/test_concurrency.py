"""Concurrent verification through a node's gateway: 16 clients at once, every verdict right
(issue 17, item 1: pyld's shared caches once turned valid badges invalid under load)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from badgechain.bns.record import entry_from_badge
from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import sign_credential
from badgechain.chain.resolve import Unreachable
from badgechain.node.app import Node, RunningNode
from badgechain.node.config import NodeConfig
from tests.bns.network import TEST_SETTINGS

TOKEN = "t" * 40
CLIENTS = 16
POSTS_PER_CLIENT = 40
BADGES = 6


async def _start(home: Path, bootstrap: tuple[tuple[str, int], ...] = ()) -> RunningNode:
    home.mkdir(parents=True)
    config = NodeConfig(name=home.name, dht_port=0, http_port=0, bootstrap=bootstrap)
    node = Node(home, KeyPair.generate(), config, TOKEN, dht_settings=TEST_SETTINGS)
    async with asyncio.timeout(15):
        return await node.start()


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[RunningNode, RunningNode]]:
    """An issuing node and a verifying node that joined through it."""
    nodes: list[RunningNode] = []
    try:
        nodes.append(await _start(tmp_path / "issuer"))
        nodes.append(await _start(tmp_path / "verifier", (nodes[0].dht_address,)))
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            await node.stop()


def _signed(issuer: KeyPair, n: int) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    achievement = build_achievement(
        issuer.did,
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
        name=f"Skill {n}",
        description="Concurrency",
        criteria="Verified under load",
    )
    credential = build_credential(
        issuer_did=issuer.did,
        subject_id=KeyPair.generate().did,
        achievement=achievement,
        valid_from=now,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
    )
    return sign_credential(credential, issuer, created=now)


async def _published(issuer: RunningNode, count: int) -> list[dict[str, Any]]:
    badges = [_signed(issuer.key, n) for n in range(count)]
    for badge in badges:
        entry = entry_from_badge(badge, issuer.key, None, int(time.time()))
        for attempt in range(3):  # on a loaded machine a fresh DHT may miss one round trip
            try:
                await issuer.names.publish(issuer.key, entry)
                break
            except Unreachable:
                if attempt == 2:
                    raise
    return badges


async def test_sixteen_clients_posting_to_verify_all_get_the_right_verdict(
    pair: tuple[RunningNode, RunningNode],
) -> None:
    issuer, verifier = pair
    badges = await _published(issuer, BADGES)
    tampered = json.loads(json.dumps(badges[0]))
    tampered["credentialSubject"]["achievement"]["name"] = "Forged skill"
    bodies = [(json.dumps(badge).encode(), "valid") for badge in badges]
    bodies.append((json.dumps(tampered).encode(), "invalid"))
    url = f"{verifier.gateway_url}/verify"
    start = asyncio.Event()

    async def client(number: int, session: aiohttp.ClientSession) -> list[tuple[str, str]]:
        await start.wait()  # every client sends its first request together
        results = []
        for i in range(POSTS_PER_CLIENT):
            body, expected = bodies[(number + i) % len(bodies)]
            headers = {"Content-Type": "application/json"}
            async with session.post(url, data=body, headers=headers) as response:
                report = await response.json()
            failed = next((c for c in report["checks"] if c["status"] == "failed"), None)
            got = f"{response.status} {report['verdict']} {failed and failed['code']}"
            results.append((expected, got))
        return results

    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        clients = [asyncio.create_task(client(n, session)) for n in range(CLIENTS)]
        start.set()
        results = [result for done in await asyncio.gather(*clients) for result in done]

    assert len(results) == CLIENTS * POSTS_PER_CLIENT
    right = {"valid": "200 valid None", "invalid": "200 invalid signature_invalid"}
    wrong = [(expected, got) for expected, got in results if got != right[expected]]
    assert wrong == [], f"{len(wrong)} wrong verdicts: {wrong[:5]}"
