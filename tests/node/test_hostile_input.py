"""What a network peer controls never makes a node answer 500 (issue 17, item 4): malformed
multipart uploads, bad Host headers, mirrors serving junk, and an inbox strangers try to fill."""

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
from aiohttp import web

from badgechain.bns.record import Uid, entry_from_badge
from badgechain.chain import verify_proofs
from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.chain.proof import sign_credential
from badgechain.chain.resolve import Unreachable
from badgechain.node import inbox_limits
from badgechain.node.app import Node, RunningNode
from badgechain.node.badgestore import save_badge
from badgechain.node.config import NodeConfig
from badgechain.node.delivery import DeliveryError, DeliveryRefused, post_credential
from badgechain.node.verifypool import WORKERS_ENV
from tests.bns.network import TEST_SETTINGS

TOKEN = "t" * 40
PROBLEM = "application/problem+json"
TIMEOUT = aiohttp.ClientTimeout(total=30)
FILE_PART = b'Content-Disposition: form-data; name="file"; filename="b.json"\r\n\r\n{}\r\n'


async def _start(home: Path, bootstrap: tuple[tuple[str, int], ...] = ()) -> RunningNode:
    home.mkdir(parents=True)
    config = NodeConfig(name=home.name, dht_port=0, http_port=0, bootstrap=bootstrap)
    node = Node(home, KeyPair.generate(), config, TOKEN, dht_settings=TEST_SETTINGS)
    async with asyncio.timeout(15):
        return await node.start()


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningNode]:
    """One node alone (no DHT peers)."""
    started = await _start(tmp_path / "node")
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as client:
        yield client


def _signed(issuer: KeyPair, subject: str, **extra: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    achievement = build_achievement(
        issuer.did,
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
        name="Hostile input",
        description="Refused politely",
        criteria="No 500",
    )
    credential = build_credential(
        issuer_did=issuer.did,
        subject_id=subject,
        achievement=achievement,
        valid_from=now,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        **extra,
    )
    return sign_credential(credential, issuer, created=now)


async def _problem(response: aiohttp.ClientResponse, status: int, code: str) -> None:
    body = await response.json(content_type=None)
    assert (response.status, response.content_type, body.get("code")) == (status, PROBLEM, code), (
        body
    )


async def _raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send bytes no HTTP client library would, and read the status line and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(20):
            answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# -- POST /verify with malformed multipart bodies ----------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n" + FILE_PART + b"--x--\r\n"),
        ("multipart/form-data; boundary=abc", b"--zzz\r\n" + FILE_PART + b"--zzz--\r\n"),
        ("multipart/form-data; boundary=b", b"--b\r\nnot a header\r\n\r\nabc\r\n--b--\r\n"),
        ("multipart/form-data; boundary=b", b"--b\r\nX: " + b"a" * 100_000 + b"\r\n\r\n\r\n--b--"),
        ("multipart/form-data; boundary=" + "b" * 100, b"--" + b"b" * 100 + b"\r\n\r\nx\r\n"),
        ("multipart/form-data; boundary=b", b""),
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Type: multipart/mixed\r\n\r\n--b--"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="\xff\xfe"\r\n\r\nabc\r\n--b--\r\n',
        ),
    ],
    ids=[
        "no-boundary",
        "wrong-boundary",
        "bad-part-header",
        "huge-part-header",
        "long-boundary",
        "empty",
        "nested-no-boundary",
        "non-utf8-name",
    ],
)
async def test_malformed_multipart_bodies_are_a_400(
    node: RunningNode, session: aiohttp.ClientSession, content_type: str, body: bytes
) -> None:
    headers = {"Content-Type": content_type}
    async with session.post(f"{node.gateway_url}/verify", data=body, headers=headers) as response:
        assert response.status == 400, await response.text()
        assert response.content_type == PROBLEM


@pytest.mark.parametrize(
    ("path", "host"),
    [
        ("/.well-known/did.json", b"xn--"),  # an empty IDNA label
        ("/.well-known/did.json", b"\xff"),
        ("/.well-known/did.json", b"localhost:99999"),
        ("/.well-known/did.json", b"example.com:abc"),
        ("/feed.atom", b"\xff"),
        ("/feed.atom", b"localhost:99999"),
        ("/feed.atom", b"example.com:abc"),
    ],
)
async def test_a_bad_host_header_is_a_400(node: RunningNode, host: bytes, path: str) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: ".encode() + host + b"\r\nConnection: close\r\n\r\n"
    status, body = await _raw(node.http_port, request)
    assert status == 400 and json.loads(body)["code"] == "host_invalid"


# -- GET /verify/{uid}: one bad mirror does not hide a good one -------------------------------


@pytest.fixture
async def mirror() -> AsyncIterator[str]:
    """A web server serving junk where badges should be: {} and an empty proof list."""
    junk: dict[str, Any] = {
        "/empty": {},
        "/no-proof": {"proof": []},
        "/proof-object": {"proof": {}},
    }

    async def serve(request: web.Request) -> web.Response:
        return web.json_response(junk[request.path])

    app = web.Application()
    for path in junk:
        app.router.add_get(path, serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _publish_with_retry(issuer: RunningNode, entry: Any) -> None:
    for attempt in range(3):  # on a loaded machine a fresh DHT may miss one round trip
        try:
            await issuer.names.publish(issuer.key, entry)
            return
        except Unreachable:
            if attempt == 2:
                raise


async def test_a_bad_mirror_is_skipped_and_the_next_location_verifies(
    tmp_path: Path, mirror: str, session: aiohttp.ClientSession
) -> None:
    issuer = await _start(tmp_path / "issuer")
    earner = await _start(tmp_path / "earner", (issuer.dht_address,))
    try:
        badge = _signed(issuer.key, earner.did)
        entry = entry_from_badge(badge, issuer.key, earner.key.public_key, int(time.time()))
        await _publish_with_retry(issuer, entry)
        uid = multibase_encode_b58(save_badge(earner.store, badge, {"role": "received"}))
        good = f"{earner.gateway_url}/badges/{uid}"
        junk = [f"{mirror}/empty", f"{mirror}/no-proof", f"{mirror}/proof-object"]
        await earner.names.set_location(earner.key, Uid(entry.uid), [*junk, good])

        async with session.get(f"{issuer.gateway_url}/verify/{uid}") as response:
            report = await response.json()
        assert response.status == 200 and report["verdict"] == "valid", report

        # Only junk: a problem report naming the locations, not a 500.
        await earner.names.set_location(earner.key, Uid(entry.uid), junk)
        async with session.get(f"{issuer.gateway_url}/verify/{uid}") as response:
            await _problem(response, 502, "location_invalid")
    finally:
        await earner.stop()
        await issuer.stop()


# -- the inbox: bounded in bytes, per sender, and never a 4xx for our own failure -------------


async def _deliver(
    session: aiohttp.ClientSession, node: RunningNode, badge: dict[str, Any]
) -> aiohttp.ClientResponse:
    async with session.post(f"{node.gateway_url}/inbox", json=badge) as response:
        await response.read()
        return response


async def test_the_inbox_is_bounded_in_bytes_per_sender_and_in_total(
    node: RunningNode, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    size = len(json.dumps(_signed(first, node.did), ensure_ascii=False).encode())
    # Room for two badges per sender and five in all (sizes vary by a few bytes).
    monkeypatch.setattr(inbox_limits, "MAX_INBOX_SENDER_BYTES", 2 * size + size // 2)
    monkeypatch.setattr(inbox_limits, "MAX_INBOX_TOTAL_BYTES", 5 * size + size // 2)

    for _ in range(2):
        assert (await _deliver(session, node, _signed(first, node.did))).status == 202
    async with session.post(f"{node.gateway_url}/inbox", json=_signed(first, node.did)) as r:
        await _problem(r, 429, "inbox_sender_full")
    for _ in range(2):
        assert (await _deliver(session, node, _signed(second, node.did))).status == 202
    assert (await _deliver(session, node, _signed(third, node.did))).status == 202
    async with session.post(f"{node.gateway_url}/inbox", json=_signed(third, node.did)) as r:
        await _problem(r, 507, "inbox_storage_full")

    # A badge already held is answered as held, full inbox or not (deliveries are retried).
    held = _signed(third, node.did)
    monkeypatch.setattr(inbox_limits, "MAX_INBOX_TOTAL_BYTES", 10 * size)
    assert (await _deliver(session, node, held)).status == 202
    monkeypatch.setattr(inbox_limits, "MAX_INBOX_TOTAL_BYTES", size)
    assert (await _deliver(session, node, held)).status == 202


async def test_an_internal_verifier_error_is_a_503_not_a_refusal(
    node: RunningNode, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the verifier")

    # Fault injection: the proof step crashes, as pyld's shared cache once made it. It is
    # injected in this process, so verify here rather than in worker processes (a worker's
    # crash: tests/node/test_verifypool.py).
    monkeypatch.setenv(WORKERS_ENV, "0")
    monkeypatch.setattr(verify_proofs, "verify_proof", broken)
    async with session.post(
        f"{node.gateway_url}/inbox", json=_signed(KeyPair.generate(), node.did)
    ) as r:
        await _problem(r, 503, "verifier_unavailable")
    credential = _signed(KeyPair.generate(), node.did)
    async with session.post(f"{node.gateway_url}/verify", json=credential) as r:
        await _problem(r, 503, "verifier_unavailable")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"verifiableCredential": credential}
    async with session.post(
        f"{node.gateway_url}/credentials/verify", json=body, headers=headers
    ) as r:
        await _problem(r, 503, "verifier_unavailable")


# -- the outbox: only a definite refusal is final -----------------------------------------------


@pytest.fixture
async def inbox_answers() -> AsyncIterator[str]:
    """An inbox that answers each path's status, with or without a problem code."""

    async def answer(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        code = request.query.get("code")
        if code is None:
            return web.Response(status=status, text="some proxy's page")
        return web.json_response({"status": status, "code": code}, status=status)

    app = web.Application()
    app.router.add_post("/{status}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("path", "final"),
    [
        ("422?code=signature_invalid", True),
        ("404?code=not_for_this_node", True),
        ("422?code=internal_error", False),  # an older node's verifier crashing
        ("503?code=verifier_unavailable", False),
        ("507?code=inbox_storage_full", False),
        ("429?code=inbox_sender_full", False),
        ("500?code=internal_error", False),
        ("404", False),  # no problem code: not the earner's node saying no
        ("403", False),
    ],
)
async def test_the_outbox_takes_only_a_definite_refusal_as_final(
    inbox_answers: str, path: str, final: bool
) -> None:
    badge = _signed(KeyPair.generate(), KeyPair.generate().did)
    with pytest.raises(DeliveryError) as failed:
        await post_credential(NodeConfig(name="issuer"), f"{inbox_answers}/{path}", badge)
    assert isinstance(failed.value, DeliveryRefused) is final


async def test_no_answer_is_retried() -> None:
    badge = _signed(KeyPair.generate(), KeyPair.generate().did)
    with pytest.raises(DeliveryError) as failed:
        await post_credential(NodeConfig(name="issuer"), "http://127.0.0.1:9/inbox", badge)
    assert not isinstance(failed.value, DeliveryRefused)
