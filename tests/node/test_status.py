"""Bitstring Status Lists across real nodes on 127.0.0.1: every issued badge gets an entry,
GET /status/{id} serves a list that verifies, revoking flips the bit and the BNS together,
the issuer's node going away, a forged list served at the badge's URL, and the pending
revocation replayed after a crash."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from badgechain.bns.errors import NotFound
from badgechain.bns.record import Uid
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.proof import sign_credential
from badgechain.chain.statuslist import (
    check_status,
    decode_bits,
    empty_bits,
    encode_bits,
    get_bit,
    list_proof_verifier,
)
from badgechain.chain.verify import Report
from badgechain.node import classes, issuer, revocation, status
from badgechain.node.app import RunningNode
from badgechain.node.badgestore import load_badge, load_state
from badgechain.node.resolvers import verify_online
from badgechain.storage import Kind
from tests.node.conftest import NodeNetwork, eventually
from tests.node.fakeclock import FakeClock

CLASS: dict[str, Any] = {"name": "Status lists", "description": "Revocation", "criteria": "Passed"}
Json = Any


async def _admin(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode, path: str, body: Json
) -> tuple[int, Json]:
    async with http.post(node.gateway_url + path, json=body, headers=network.admin) as response:
        return response.status, await response.json(content_type=None)


async def _issue(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode, to: str
) -> Json:
    status_code, made = await _admin(network, http, node, "/admin/classes", CLASS)
    assert status_code == 201, made
    body = {"class_id": made["id"], "to": to}
    status_code, answer = await _admin(network, http, node, "/admin/issue", body)
    assert status_code == 201 and answer["published"], answer
    return answer


async def _verify(node: RunningNode, credential: Json) -> Report:
    async with asyncio.timeout(30):
        return await verify_online(node, json.dumps(credential).encode())


def _codes(report: Report, *names: str) -> tuple[tuple[str, str], ...]:
    return tuple((report.check(name).status, report.check(name).code) for name in names)


async def _revoke(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode, uid: str
) -> None:
    body = {"uid": uid, "reason": "issued in error"}
    status_code, answer = await _admin(network, http, node, "/admin/revoke", body)
    assert status_code == 200, answer


# --- issuing and serving ---------------------------------------------------------------------


async def test_issued_badge_has_an_entry_and_its_list_verifies(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer_node, earner = (await node_network.start(2))[:2]
    credential = (await _issue(node_network, http, issuer_node, earner.did))["credential"]
    entry = credential["credentialStatus"]
    assert entry["type"] == "BitstringStatusListEntry" and entry["statusPurpose"] == "revocation"
    assert entry["statusListCredential"].startswith(f"{issuer_node.gateway_url}/status/")
    assert entry["id"] == f"{entry['statusListCredential']}#{entry['statusListIndex']}"

    async with http.get(entry["statusListCredential"]) as response:
        assert response.status == 200
        assert response.content_type == "application/vc+ld+json"
        served = await response.json(content_type=None)
    assert served["validFrom"] < served["validUntil"] and served["credentialSubject"]["ttl"] > 0
    bit = check_status(
        served,
        entry,
        credential_issuer=issuer_node.did,
        now=issuer_node.clock(),
        verify_list_proof=list_proof_verifier(None),
    )
    assert bit is False
    report = await _verify(earner, credential)
    assert report.verdict == "valid", report.to_json()
    assert report.check("status").code == "ok"


async def test_status_route_errors(node_network: NodeNetwork, http: aiohttp.ClientSession) -> None:
    (node,) = await node_network.start(1)
    for list_id, code in (("AAAAAAAAAAAA", 404), ("bad!", 400), ("x" * 40, 400)):
        async with http.get(f"{node.gateway_url}/status/{list_id}") as response:
            assert response.status == code
            assert response.content_type == "application/problem+json"


async def test_indexes_are_random_and_unique_under_concurrent_issuing(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node = (await node_network.start(2))[0]
    earners = [KeyPair.generate() for _ in range(12)]
    status_code, made = await _admin(node_network, http, node, "/admin/classes", CLASS)
    rows = [{"to": earner.did} for earner in earners]
    body = {"class_id": made["id"], "rows": rows}
    status_code, batch = await _admin(node_network, http, node, "/admin/batches", body)
    assert status_code == 202, batch
    singles = await asyncio.gather(
        *(_issue(node_network, http, node, earner.did) for earner in earners[:6])
    )
    vc_body = {
        "credential": {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "credentialSubject": {"id": earners[0].did},
        },
        "options": {"credentialStatus": {"type": "BitstringStatusListEntry"}},  # asked for
    }
    status_code, via_api = await _admin(node_network, http, node, "/credentials/issue", vc_body)
    assert status_code == 201, via_api

    async def batch_done() -> bool:
        async with http.get(
            f"{node.gateway_url}/admin/batches/{batch['batch_id']}", headers=node_network.admin
        ) as response:
            progress = await response.json()
        return bool(progress["state"] == "done")

    await eventually(batch_done, timeout=30)
    issued = [
        json.loads(value)
        for _, value in node.store.scan(Kind.BADGE)
        if "credentialStatus" in json.loads(value)
    ]
    assert len(issued) == 12 + 6 + 1
    assert via_api["verifiableCredential"]["credentialStatus"] in [
        c["credentialStatus"] for c in issued
    ]
    slots = {
        (c["credentialStatus"]["statusListCredential"], c["credentialStatus"]["statusListIndex"])
        for c in issued
    }
    assert len(slots) == len(issued)  # no index handed out twice
    indexes = sorted(int(index) for _, index in slots)
    assert indexes[-1] - indexes[0] > 1000  # drawn at random, not counted up
    assert all(s["credential"]["credentialStatus"] for s in singles)


# --- revoking --------------------------------------------------------------------------------


async def test_revoked_badge_reads_revoked_through_list_and_bns_even_with_the_issuer_gone(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer_node, earner, verifier, other = await node_network.start(4)
    answer = await _issue(node_network, http, issuer_node, earner.did)
    credential, uid = answer["credential"], answer["uid"]
    await _revoke(node_network, http, issuer_node, uid)

    url = credential["credentialStatus"]["statusListCredential"]
    async with http.get(url) as response:
        served = await response.json(content_type=None)
    bits = decode_bits(served["credentialSubject"]["encodedList"])
    assert get_bit(bits, int(credential["credentialStatus"]["statusListIndex"]))

    report = await _verify(verifier, credential)
    assert report.verdict == "invalid"
    assert _codes(report, "status", "revocation") == (
        ("failed", "status_revocation"),
        ("failed", "revoked"),
    )

    await issuer_node.stop()  # the list's server is gone; BNS replicas remain
    cached = await _verify(verifier, credential)  # still fresh in the verifier's cache
    assert _codes(cached, "status", "revocation") == (
        ("failed", "status_revocation"),
        ("failed", "revoked"),
    )
    uncached = await _verify(other, credential)  # never fetched it: the BNS answers
    assert uncached.verdict == "invalid"
    assert _codes(uncached, "status", "revocation") == (
        ("passed", "bns_answered"),
        ("failed", "revoked"),
    )


async def test_unrevoked_badge_stays_valid_with_the_issuer_gone(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer_node, earner, verifier = await node_network.start(3)
    credential = (await _issue(node_network, http, issuer_node, earner.did))["credential"]
    await issuer_node.stop()
    report = await _verify(verifier, credential)
    assert report.verdict == "valid", report.to_json()
    assert report.check("status").code == "bns_answered"


async def test_stale_cache_entry_is_not_used(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer_node, earner, verifier = await node_network.start(3)
    credential = (await _issue(node_network, http, issuer_node, earner.did))["credential"]
    assert (await _verify(verifier, credential)).check("status").code == "ok"  # cached now
    await issuer_node.stop()
    ttl = timedelta(seconds=verifier.settings.status_list_ttl_s)
    later = verifier.clock() + ttl + timedelta(minutes=1)
    verifier = dataclasses.replace(verifier, clock=lambda: later)
    report = await _verify(verifier, credential)
    assert report.check("status").code == "bns_answered"  # the old copy was not trusted


async def test_a_served_list_is_signed_again_when_its_freshness_runs_low(
    node_network: NodeNetwork,
) -> None:
    """GET /status/{id} serves the stored list while more than status_list_resign_left_s
    of its validity is left by the node's clock (a fake one here), then signs it anew."""
    node_network.settings = dataclasses.replace(
        node_network.settings, status_list_ttl_s=600.0, status_list_resign_left_s=200.0
    )
    (node,) = await node_network.start(1)
    clock = FakeClock()
    services = dataclasses.replace(node, clock=clock)
    entry, _ = status.allocate_entry(services, clock())
    list_id = entry["statusListCredential"].rpartition("/")[2]

    def valid_from(signed: Json) -> datetime:
        return datetime.fromisoformat(signed["validFrom"])

    first = status.served_list(services, list_id)
    lifetime = datetime.fromisoformat(first["validUntil"]) - valid_from(first)
    assert lifetime == timedelta(seconds=600) and first["credentialSubject"]["ttl"] == 600_000
    clock.advance(399)  # 201 s left
    assert status.served_list(services, list_id) == first
    clock.advance(2)  # 199 s left: signed again, valid from now
    second = status.served_list(services, list_id)
    assert valid_from(second) - valid_from(first) == timedelta(seconds=401)
    assert status.served_list(services, list_id) == second


# --- forged lists ----------------------------------------------------------------------------


@pytest.fixture
async def list_server() -> AsyncIterator[tuple[dict[str, Json], str]]:
    """A server on 127.0.0.1 answering GET /status/{id} with whatever `lists[id]` holds."""
    lists: dict[str, Json] = {}

    async def serve(request: web.Request) -> web.Response:
        return web.json_response(lists[request.match_info["list_id"]])

    app = web.Application()
    app.router.add_get("/status/{list_id}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield lists, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _with_list_url(node: RunningNode, base_url: str) -> RunningNode:
    """`node` creating its lists under `base_url` (what a configured public URL does)."""
    return dataclasses.replace(node, config=node.config.with_overrides(public_url=base_url))


@pytest.mark.parametrize(
    ("forge", "code"),
    [
        ("flip", "status_list_signature_invalid"),
        ("other_key", "status_list_wrong_signer"),
        ("truncated", "status_list_too_short"),
        ("stale", "status_list_stale"),
        ("unsigned", "status_list_unsigned"),
    ],
)
async def test_forged_list_makes_the_badge_invalid(
    node_network: NodeNetwork,
    http: aiohttp.ClientSession,
    list_server: tuple[dict[str, Json], str],
    forge: str,
    code: str,
) -> None:
    lists, base_url = list_server
    issuer_node, earner, verifier = await node_network.start(3)
    issuer_node = _with_list_url(issuer_node, base_url)
    made = classes.create_class(issuer_node, **CLASS)
    recipient = issuer.parse_recipient({"to": earner.did}, now=issuer_node.clock())
    credential = (await issuer.issue_badge(issuer_node, str(made.id), recipient)).credential
    assert credential["credentialStatus"]["statusListCredential"].startswith(base_url)
    list_id = credential["credentialStatus"]["statusListCredential"].rpartition("/")[2]
    genuine = status.served_list(issuer_node, list_id)
    lists[list_id] = _forged(genuine, forge, issuer_node)
    report = await _verify(verifier, credential)
    assert report.verdict == "invalid", report.to_json()
    assert _codes(report, "status")[0] == ("failed", code)
    lists[list_id] = genuine
    assert (await _verify(earner, credential)).verdict == "valid"


def _forged(genuine: Json, forge: str, node: RunningNode) -> Json:
    forged = copy.deepcopy(genuine)
    unsigned = {name: value for name, value in forged.items() if name != "proof"}
    subject = forged["credentialSubject"]
    if forge == "flip":
        subject["encodedList"] = encode_bits(bytes([0xFF]) * (len(empty_bits())))
        return forged
    if forge == "unsigned":
        return unsigned
    when = node.clock()
    if forge == "other_key":
        stranger = KeyPair.generate()
        return sign_credential(unsigned | {"issuer": stranger.did}, stranger, created=when)
    if forge == "truncated":
        unsigned["credentialSubject"] = subject | {"encodedList": encode_bits(bytes(1024))}
    if forge == "stale":
        unsigned |= {"validFrom": "2020-01-01T00:00:00Z", "validUntil": "2020-01-01T01:00:00Z"}
    return sign_credential(unsigned, node.key, created=when)


# --- crash safety ----------------------------------------------------------------------------


async def test_pending_revocation_is_published_after_a_restart(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer_node, earner, far = await node_network.start(3)
    answer = await _issue(node_network, http, issuer_node, earner.did)
    uid = Uid(multibase_decode(answer["uid"]))
    # The atomic write of a revocation, then a "crash" before the BNS heard of it.
    revocation.record_revocation(issuer_node, uid, "crashed mid-way")
    assert issuer_node.store.get(Kind.JOURNAL, revocation.REVOKING_PREFIX + uid) is not None
    assert (load_state(issuer_node.store, uid) or {})["state"] == "revoked"
    assert (await far.names.resolve(uid)).revocation is None

    again = await node_network.restart(issuer_node)

    async def published() -> bool:
        try:
            record = await far.names.resolve(uid)
        except NotFound:
            return False
        return record.revocation is not None

    await eventually(published, timeout=20)

    async def mark_cleared() -> bool:
        return again.store.get(Kind.JOURNAL, revocation.REVOKING_PREFIX + uid) is None

    await eventually(mark_cleared, timeout=10)
    credential = load_badge(again.store, uid)
    assert credential is not None
    list_id = credential["credentialStatus"]["statusListCredential"].rpartition("/")[2]
    served = status.served_list(again, list_id)
    bits = decode_bits(served["credentialSubject"]["encodedList"])
    assert get_bit(bits, int(credential["credentialStatus"]["statusListIndex"]))
    assert (await far.names.resolve(uid)).revocation is not None


# --- what a failure in the middle leaves --------------------------------------------------------


async def test_a_refused_issue_leaves_the_next_badges_list_served(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """The first badge opens the list; when its signing fails, the list must still exist."""
    node, _ = await node_network.start(2)
    bad = {
        "credential": {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential"],
            "credentialSubject": {"undefinedTerm": "x"},
        }
    }
    refused, _ = await _admin(node_network, http, node, "/credentials/issue", bad)
    assert refused == 422
    credential = (await _issue(node_network, http, node, KeyPair.generate().did))["credential"]
    url = credential["credentialStatus"]["statusListCredential"]
    async with http.get(url) as response:
        assert response.status == 200
    await _revoke(node_network, http, node, credential["proof"]["proofValue"])
    async with http.get(url) as response:
        served = await response.json(content_type=None)
    index = int(credential["credentialStatus"]["statusListIndex"])
    assert get_bit(decode_bits(served["credentialSubject"]["encodedList"]), index)


async def test_a_revocation_the_dht_did_not_take_is_published_later(
    node_network: NodeNetwork, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every peer gone the revoke is recorded (202, the list bit set) and the node's
    retry loop publishes it once a peer is back; revoking again records nothing twice."""
    node_network.settings = dataclasses.replace(node_network.settings, queue_retry_first_s=0.2)
    node, peer = await node_network.start(2)
    uid = (await _issue(node_network, http, node, KeyPair.generate().did))["uid"]
    await peer.stop()
    body = {"uid": uid, "reason": "issued in error"}
    status_code, answer = await _admin(node_network, http, node, "/admin/revoke", body)
    assert (status_code, answer) == (202, {"uid": uid, "revoked": True, "bns": "pending"})
    again, _ = await _admin(node_network, http, node, "/admin/revoke", body)
    assert again == 202
    assert [entry["action"] for entry in node.log.entries()].count("revoke") == 1

    peer = await node_network.restart(peer)
    names = peer.names

    async def revoked_in_the_bns() -> bool:
        try:
            return (await names.resolve(Uid(multibase_decode(uid)))).revocation is not None
        except NotFound:
            return False

    await eventually(revoked_in_the_bns, timeout=20)


async def test_a_refused_revocation_is_not_logged(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, other = await node_network.start(2)
    uid = (await _issue(node_network, http, node, KeyPair.generate().did))["uid"]
    body = {"uid": uid, "reason": "not mine"}
    status_code, answer = await _admin(node_network, http, other, "/admin/revoke", body)
    assert (status_code, answer["code"]) == (422, "not_issuer")
    assert [entry["action"] for entry in other.log.entries()] == []
