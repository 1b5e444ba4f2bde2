"""The earner's side over real nodes on 127.0.0.1: inbox discovery, delivery and its retries,
the inbox's defences, and accept / move / hide / reject through the admin API and the CLI."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner, Result

from badgechain.bns.record import Uid, entry_from_badge
from badgechain.chain.badge import (
    BNS_URN_PREFIX,
    build_achievement,
    build_credential,
    email_identity,
)
from badgechain.chain.keys import KeyPair, public_key_from_did_key
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.chain.proof import sign_credential
from badgechain.cli.main import main
from badgechain.node.app import Node, RunningNode
from badgechain.node.badgestore import credential_uid, load_badge, load_state
from badgechain.node.config import ADMIN_TOKEN_FILE, MAX_JSON_BYTES, NodeConfig, save_config
from badgechain.node.delivery import (
    DeliveryRefused,
    OutboxEntry,
    earner_key_of,
    enqueue_delivery,
    find_inbox,
    outbox,
)
from tests.bns.network import TEST_SETTINGS

TOKEN = "earner-test-token-" + "x" * 32
ACHIEVEMENT = "Distributed Systems 101"


@dataclass
class Cluster:
    """Nodes in one process, each with its own home under `root`, all on loopback."""

    root: Path
    nodes: dict[str, RunningNode] = field(default_factory=dict)
    keys: dict[str, KeyPair] = field(default_factory=dict)

    async def start(self, name: str, *, seed: str | None = None) -> RunningNode:
        """Start node `name` (again, after `stop`: same key and database, new ports)."""
        bootstrap = (self.nodes[seed].dht_address,) if seed else ()
        home = self.root / name
        home.mkdir(exist_ok=True)
        key = self.keys.setdefault(name, KeyPair.generate())
        config = NodeConfig(name=name, dht_port=0, http_port=0, bootstrap=bootstrap)
        node = await Node(home, key, config, TOKEN, dht_settings=TEST_SETTINGS).start()
        self.nodes[name] = node
        return node

    async def stop(self, name: str) -> None:
        await self.nodes.pop(name).stop()

    async def close(self) -> None:
        for name in list(self.nodes):
            await self.stop(name)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    nodes = Cluster(tmp_path)
    try:
        yield nodes
    finally:
        await nodes.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    """Poll `check` until it holds or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


def sign_badge(issuer: KeyPair, subject_id: str | None, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    achievement = build_achievement(
        issuer.did,
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
        name=ACHIEVEMENT,
        description="Built a DHT",
        criteria="Passed the labs",
    )
    credential = build_credential(
        issuer_did=issuer.did,
        subject_id=subject_id,
        achievement=achievement,
        valid_from=now,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        **extra,
    )
    return sign_credential(credential, issuer, created=now)


async def issue(issuer: RunningNode, earner_did: str) -> tuple[Uid, dict[str, Any]]:
    """Sign a badge for `earner_did` and publish its BNS entry, as the issuer side does."""
    badge = sign_badge(issuer.key, earner_did)
    earner_key = public_key_from_did_key(earner_did)
    entry = entry_from_badge(badge, issuer.key, earner_key, int(time.time()))
    await issuer.names.publish(issuer.key, entry)
    return credential_uid(badge), badge


async def call(
    session: aiohttp.ClientSession,
    node: RunningNode,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = TOKEN,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, node.gateway_url + path, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def inbox_uids(session: aiohttp.ClientSession, node: RunningNode) -> list[str]:
    status, answer = await call(session, node, "GET", "/admin/inbox")
    assert status == 200
    return [item["uid"] for item in answer["badges"]]


async def cli(node: RunningNode, *args: str) -> Result:
    """Run a `badgechain` command against `node` (in a thread: the CLI runs its own loop)."""
    save_config(node.home, NodeConfig(http_port=node.http_port))
    (node.home / ADMIN_TOKEN_FILE).write_text(TOKEN)
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, ["--home", str(node.home), *args])


async def location_seen_by(
    session: aiohttp.ClientSession, node: RunningNode, uid: str
) -> dict[str, Any] | None:
    status, record = await call(session, node, "GET", f"/bns/{uid}", token=None)
    assert status == 200, record
    location: dict[str, Any] | None = record["location"]
    return location


# --- delivery, then the earner's decisions, seen from a third node ----------------------------


async def test_delivered_accepted_moved_and_hidden_as_a_third_node_sees_it(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    issuer = await cluster.start("issuer")
    earner = await cluster.start("earner", seed="issuer")
    verifier = await cluster.start("verifier", seed="issuer")
    announced = await find_inbox(issuer.inboxes, earner.key.public_key)
    assert announced.url == earner.gateway_url + "/inbox" and announced.seq == 1

    uid, badge = await issue(issuer, earner.did)
    assert await enqueue_delivery(issuer, uid, badge) == "delivered"
    text_uid = multibase_encode_b58(uid)

    async def in_inbox() -> bool:
        return text_uid in await inbox_uids(session, earner)

    assert await eventually(in_inbox, 5)
    assert outbox(issuer.store) == []
    _, listing = await call(session, earner, "GET", "/admin/inbox")
    assert listing["badges"][0]["issuer"] == issuer.did
    assert listing["badges"][0]["name"] == ACHIEVEMENT
    listed = await cli(earner, "inbox")
    assert listed.exit_code == 0 and f"{text_uid}  {issuer.did}  {ACHIEVEMENT}" in listed.output

    accepted = await cli(earner, "accept", text_uid)
    own_url = f"{earner.gateway_url}/badges/{text_uid}.json"
    assert accepted.exit_code == 0, accepted.output
    assert own_url in accepted.output
    location = await location_seen_by(session, verifier, text_uid)
    assert location is not None and location["urls"] == [own_url]
    async with session.get(own_url) as served:
        assert served.status == 200 and await served.json() == badge
    assert await inbox_uids(session, earner) == []

    mirrors = ["https://mirror.example/badge.json", "http://127.0.0.1:9/b.json"]
    moved = await cli(earner, "move", text_uid, *mirrors)
    assert moved.exit_code == 0, moved.output
    location = await location_seen_by(session, verifier, text_uid)
    assert location is not None and location["urls"] == mirrors and location["seq"] == 2

    hidden = await cli(earner, "hide", text_uid)
    assert hidden.exit_code == 0, hidden.output
    location = await location_seen_by(session, verifier, text_uid)
    assert location is not None and location["hidden"] is True and location["seq"] == 3
    assert (load_state(earner.store, uid) or {})["state"] == "hidden"

    # A delivery retried by the issuer changes nothing; accepting twice is refused.
    async with session.post(earner.gateway_url + "/inbox", json=badge) as again:
        assert again.status == 202 and (await again.json())["state"] == "hidden"
    status, problem = await call(session, earner, "POST", "/admin/accept", {"uid": text_uid})
    assert (status, problem["code"]) == (409, "not_in_inbox")


async def test_an_outbox_round_delivers_what_is_due_and_never_retries_a_refusal(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    issuer = await cluster.start("issuer")
    earner = await cluster.start("earner", seed="issuer")
    uid, badge = await issue(issuer, earner.did)
    tampered = badge | {"name": "Something the issuer never signed"}
    assert await enqueue_delivery(issuer, uid, tampered) == "refused"
    [entry] = outbox(issuer.store)
    assert entry.due is None and entry.attempts == 1 and entry.error == "signature_invalid"
    (dead,) = issuer.queue.items("deliver")  # never retried unless the operator says so
    assert dead.dead and dead.error.startswith("signature_invalid")
    oversized = badge | {"padding": "x" * MAX_JSON_BYTES}
    with pytest.raises(DeliveryRefused) as too_large:
        await enqueue_delivery(issuer, Uid(bytes(64)), oversized)
    assert too_large.value.code == "body_too_large" and outbox(issuer.store) == [entry]

    # Queued without a first try: the node's work queue delivers it, and leaves the refused
    # one alone.
    later, badge = await issue(issuer, earner.did)
    assert await enqueue_delivery(issuer, later, badge, try_now=False) == "queued"

    async def delivered() -> bool:
        return await inbox_uids(session, earner) == [multibase_encode_b58(later)]

    async def only_the_refusal_left() -> bool:
        return outbox(issuer.store) == [entry]

    assert await eventually(delivered, 5)
    assert await eventually(only_the_refusal_left, 5)


async def test_a_delivery_to_a_stopped_earner_succeeds_once_it_is_back(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    issuer = await cluster.start("issuer")
    await cluster.start("earner", seed="issuer")
    await cluster.start("witness", seed="issuer")  # answers for the DHT while the earner is away
    earner_did = cluster.nodes["earner"].did
    await cluster.stop("earner")

    uid, badge = await issue(issuer, earner_did)
    assert await enqueue_delivery(issuer, uid, badge) == "queued"
    [entry] = outbox(issuer.store)
    assert entry == OutboxEntry(
        uid,
        entry.due,
        attempts=1,
        error="inbox_unreachable",
        earner_key=public_key_from_did_key(earner_did),
    )

    earner = await cluster.start("earner", seed="issuer")  # new ports, a new announcement
    announced = await find_inbox(issuer.inboxes, earner.key.public_key)
    assert announced.seq == 2 and announced.url == earner.gateway_url + "/inbox"

    async def delivered() -> bool:
        return multibase_encode_b58(uid) in await inbox_uids(session, earner)

    async def outbox_empty() -> bool:  # the earner stores the badge before the issuer hears 202
        return outbox(issuer.store) == []

    assert await eventually(delivered, 10)
    assert await eventually(outbox_empty, 5)


async def test_subjects_without_a_did_key_have_no_inbox(cluster: Cluster) -> None:
    node = await cluster.start("issuer")
    other = sign_badge(node.key, KeyPair.generate().did)
    about_a_badge = sign_badge(node.key, BNS_URN_PREFIX + other["proof"]["proofValue"])
    email = email_identity("ada@example.org", salt="pepper")
    email_only = sign_badge(node.key, None, identifiers=[email])
    assert earner_key_of(other) is not None
    for badge in (about_a_badge, email_only):
        assert earner_key_of(badge) is None
        assert await enqueue_delivery(node, credential_uid(badge), badge) == "no_inbox"
    assert outbox(node.store) == []


# --- the inbox's defences and the admin API's errors ------------------------------------------


async def test_the_inbox_refuses_what_is_not_a_badge_for_this_node(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    earner = await cluster.start("earner")
    stranger = KeyPair.generate()
    genuine = sign_badge(stranger, earner.did)
    inbox = earner.gateway_url + "/inbox"
    json_type = {"Content-Type": "application/json"}
    huge = json.dumps({"padding": "x" * MAX_JSON_BYTES}).encode()
    attempts: list[tuple[bytes | io.BytesIO, dict[str, str], int, str]] = [
        (json.dumps(sign_badge(stranger, KeyPair.generate().did)).encode(), json_type, 422,
         "not_for_this_node"),
        (json.dumps(genuine | {"name": "Forged"}).encode(), json_type, 422,
         "signature_invalid"),
        (json.dumps([genuine]).encode(), json_type, 422, "credential_invalid"),
        (b"{not json", json_type, 400, "json_invalid"),
        (json.dumps(genuine).encode(), {"Content-Type": "application/pdf"}, 415,
         "unsupported_media_type"),
        (io.BytesIO(huge), json_type, 413, "body_too_large"),  # BytesIO: aiohttp streams it
    ]  # fmt: skip
    for body, headers, status, code in attempts:
        async with session.post(inbox, data=body, headers=headers) as answer:
            assert answer.content_type == "application/problem+json"
            assert (answer.status, (await answer.json())["code"]) == (status, code)
    async with session.get(earner.gateway_url + "/health") as health:
        assert health.status == 200
    assert await inbox_uids(session, earner) == []

    async with session.post(inbox, json=genuine) as answer:
        assert answer.status == 202 and (await answer.json())["state"] == "inbox"
    async with session.post(inbox, json=genuine) as answer:  # the same badge again
        assert answer.status == 202
    assert await inbox_uids(session, earner) == [genuine["proof"]["proofValue"]]


async def test_reject_deletes_the_copy_and_keeps_it_out_of_the_inbox(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    earner = await cluster.start("earner")
    badge = sign_badge(KeyPair.generate(), earner.did)
    uid = badge["proof"]["proofValue"]
    async with session.post(earner.gateway_url + "/inbox", json=badge) as answer:
        assert answer.status == 202

    rejected = await cli(earner, "reject", uid)
    assert rejected.exit_code == 0 and f"rejected {uid}" in rejected.output
    assert load_badge(earner.store, credential_uid(badge)) is None
    assert (load_state(earner.store, credential_uid(badge)) or {})["state"] == "rejected"
    async with session.post(earner.gateway_url + "/inbox", json=badge) as again:
        assert again.status == 202 and (await again.json())["state"] == "rejected"
    assert await inbox_uids(session, earner) == []
    listed = await cli(earner, "inbox")
    assert listed.exit_code == 0 and "the inbox is empty" in listed.output
    status, problem = await call(session, earner, "POST", "/admin/accept", {"uid": uid})
    assert (status, problem["code"]) == (409, "not_in_inbox")


async def test_admin_errors_are_problem_reports(
    cluster: Cluster, session: aiohttp.ClientSession
) -> None:
    earner = await cluster.start("earner")
    unknown = multibase_encode_b58(bytes(64))
    calls: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/admin/accept", {"uid": unknown}, 404, "badge_not_found"),
        ("POST", "/admin/hide", {"uid": unknown}, 404, "badge_not_found"),
        ("POST", "/admin/reject", {"uid": "not-a-uid"}, 400, "uid_invalid"),
        ("POST", "/admin/accept", {}, 400, "uid_invalid"),
        ("POST", "/admin/accept", [unknown], 400, "body_invalid"),
        ("POST", "/admin/move", {"uid": unknown, "urls": ["ftp://x.example/b"]}, 400,
         "url_invalid"),
        ("POST", "/admin/move", {"uid": unknown, "urls": []}, 400, "url_invalid"),
        ("POST", "/admin/move", {"uid": unknown, "urls": ["https://x.example/b"]}, 404,
         "badge_not_found"),
    ]  # fmt: skip
    for method, path, body, status, code in calls:
        got_status, problem = await call(session, earner, method, path, body)
        assert (got_status, problem["code"]) == (status, code), path
    for method, path in [
        ("GET", "/admin/inbox"),
        ("POST", "/admin/accept"),
        ("POST", "/admin/reject"),
        ("POST", "/admin/move"),
        ("POST", "/admin/hide"),
    ]:
        for token in (None, "wrong-token"):
            got_status, problem = await call(session, earner, method, path, {}, token=token)
            assert (got_status, problem["code"]) == (401, "admin_token_required")
    failed = await cli(earner, "accept", unknown)
    assert failed.exit_code == 1 and "badge_not_found" in failed.output
