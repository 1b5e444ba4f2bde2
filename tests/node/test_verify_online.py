"""Online verification across real nodes on 127.0.0.1: an issuer, an earner and a verifier.

The badge is signed and published here with the BNS service directly (node.names.publish,
set_location, revoke) and stored on the earner with badgestore.save_badge, so these tests
need nothing of the issuer and earner workflows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from badgechain.bns.earner_index import index_as_earner
from badgechain.bns.record import Uid, entry_from_badge
from badgechain.chain.badge import (
    BNS_URN_PREFIX,
    build_achievement,
    build_credential,
    build_genesis,
)
from badgechain.chain.keys import (
    KeyPair,
    build_did_web_document,
    did_web_from_host,
)
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.chain.proof import create_proof, sign_credential
from badgechain.cli.verify_commands import lookup_command, verify_online_command
from badgechain.node.app import Node, RunningNode
from badgechain.node.badgestore import credential_uid, save_badge
from badgechain.node.config import NodeConfig, save_config
from badgechain.node.resolvers import verify_online
from tests.bns.network import TEST_SETTINGS

TOKEN = "t" * 40
TIMEOUT = aiohttp.ClientTimeout(total=30)


async def _start(home: Path, bootstrap: tuple[tuple[str, int], ...] = ()) -> RunningNode:
    home.mkdir(parents=True)
    config = NodeConfig(name=home.name, dht_port=0, http_port=0, bootstrap=bootstrap)
    node = Node(home, KeyPair.generate(), config, TOKEN, dht_settings=TEST_SETTINGS)
    return await node.start()


@dataclass
class Trio:
    issuer: RunningNode
    earner: RunningNode
    verifier: RunningNode


@pytest.fixture
async def trio(tmp_path: Path) -> AsyncIterator[Trio]:
    nodes: list[RunningNode] = []
    try:
        nodes.append(await _start(tmp_path / "issuer"))
        seed = (nodes[0].dht_address,)
        nodes.append(await _start(tmp_path / "earner", seed))
        nodes.append(await _start(tmp_path / "verifier", seed))
        yield Trio(*nodes)
    finally:
        for node in nodes:
            await node.stop()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)


def _credential(issuer_did: str, subject: str) -> dict[str, Any]:
    achievement = build_achievement(
        issuer_did,
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
        name="Mesh networking",
        description="Routes packets",
        criteria="Lab 3",
    )
    return build_credential(
        issuer_did=issuer_did,
        subject_id=subject,
        achievement=achievement,
        valid_from=_now(),
        credential_id=f"urn:uuid:{uuid.uuid4()}",
    )


async def _publish(
    issuer_node: RunningNode, issuer: KeyPair, badge: dict[str, Any], earner: RunningNode | None
) -> str:
    """Publish the badge's BNS entry; when `earner` is given, it holds the badge and
    publishes its location (its own gateway). Returns the UID in multibase."""
    earner_key = earner.key.public_key if earner else None
    entry = entry_from_badge(badge, issuer, earner_key, int(time.time()))
    await issuer_node.names.publish(issuer, entry)
    uid = multibase_encode_b58(entry.uid)
    if earner is not None:
        save_badge(earner.store, badge, {"role": "received", "state": "accepted"})
        await earner.names.set_location(earner.key, entry.uid, [_location(earner, uid)])
    return uid


def _location(node: RunningNode, uid: str) -> str:
    return f"{node.gateway_url}/badges/{uid}"


async def _get(node: RunningNode, path: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.get(node.gateway_url + path) as response,
    ):
        return response.status, await response.json(content_type=None)


async def _post_json(node: RunningNode, path: str, body: Any) -> tuple[int, str, Any]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.post(node.gateway_url + path, json=body) as response,
    ):
        return response.status, response.content_type, await response.json(content_type=None)


def _failed(report: dict[str, Any]) -> tuple[str, str]:
    failed = next((c for c in report["checks"] if c["status"] == "failed"), None)
    assert failed is not None, report
    return failed["name"], failed["code"]


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == name)


async def test_a_published_badge_verifies_then_stays_revoked_without_its_issuer(
    trio: Trio,
) -> None:
    badge = sign_credential(
        _credential(trio.issuer.did, trio.earner.did), trio.issuer.key, created=_now()
    )
    uid = await _publish(trio.issuer, trio.issuer.key, badge, trio.earner)

    status, report = await _get(trio.verifier, f"/verify/{uid}")
    assert status == 200
    assert report["verdict"] == "valid", report
    assert report["uid"] == uid
    for name in ("issuer_key", "proof", "uid", "bns", "revocation"):
        assert _check(report, name)["status"] == "passed", report

    await trio.issuer.names.revoke(trio.issuer.key, Uid(credential_uid(badge)), "cheated", 1)
    status, report = await _get(trio.verifier, f"/verify/{uid}")
    assert status == 200
    assert report["verdict"] == "invalid"
    assert _failed(report) == ("revocation", "revoked")
    assert "cheated" in _check(report, "revocation")["message"]

    await trio.issuer.stop()
    status, report = await _get(trio.verifier, f"/verify/{uid}")
    assert status == 200
    assert _failed(report) == ("revocation", "revoked")


async def test_post_verify_and_the_vc_api_use_the_bns(trio: Trio) -> None:
    badge = sign_credential(
        _credential(trio.issuer.did, trio.earner.did), trio.issuer.key, created=_now()
    )
    await _publish(trio.issuer, trio.issuer.key, badge, trio.earner)
    unpublished = sign_credential(
        _credential(trio.issuer.did, trio.earner.did), trio.issuer.key, created=_now()
    )

    status, _, report = await _post_json(trio.verifier, "/verify", badge)
    assert status == 200 and report["verdict"] == "valid", report
    status, _, report = await _post_json(trio.verifier, "/verify", unpublished)
    assert status == 200 and _failed(report) == ("bns", "bns_entry_missing")

    status, _, result = await _post_json(
        trio.verifier, "/credentials/verify", {"verifiableCredential": badge, "options": {}}
    )
    assert status == 200, result
    assert result["verified"] is True and result["errors"] == []
    assert {"proof", "bns", "revocation"} <= set(result["checks"])
    assert result["report"]["verdict"] == "valid"

    tampered = json.loads(json.dumps(badge))
    tampered["credentialSubject"]["achievement"]["name"] = "Something else"
    status, media, problem = await _post_json(
        trio.verifier, "/credentials/verify", {"verifiableCredential": tampered}
    )
    assert (status, media) == (422, "application/problem+json")
    assert problem["code"] == "credential_invalid" and problem["verified"] is False
    assert _failed(problem["report"])[0] == "proof"
    assert problem["errors"][0]["title"] == "proof"

    malformed_requests: list[Any] = [
        [],
        {"verifiableCredential": 3},
        {"verifiableCredential": {}, "options": 1},
    ]
    for malformed in malformed_requests:
        status, media, problem = await _post_json(trio.verifier, "/credentials/verify", malformed)
        assert (status, media, problem["code"]) == (
            400,
            "application/problem+json",
            "request_invalid",
        )


async def test_uid_lookups_that_find_no_badge_are_problems(trio: Trio) -> None:
    unknown = multibase_encode_b58(trio.issuer.key.sign(b"never published"))
    status, problem = await _get(trio.verifier, f"/verify/{unknown}")
    assert (status, problem["code"]) == (404, "bns_not_found")

    def signed() -> dict[str, Any]:
        credential = _credential(trio.issuer.did, trio.earner.did)
        return sign_credential(credential, trio.issuer.key, created=_now())

    no_location = await _publish(trio.issuer, trio.issuer.key, signed(), None)
    status, problem = await _get(trio.verifier, f"/verify/{no_location}")
    assert (status, problem["code"]) == (404, "location_missing")

    hidden_badge = signed()
    hidden = await _publish(trio.issuer, trio.issuer.key, hidden_badge, trio.earner)
    await trio.earner.names.hide(trio.earner.key, Uid(credential_uid(hidden_badge)))
    status, problem = await _get(trio.verifier, f"/verify/{hidden}")
    assert (status, problem["code"]) == (404, "badge_hidden")

    # A location nobody answers at: the verdict cannot be had, which is not "invalid".
    gone_badge = signed()
    gone = await _publish(trio.issuer, trio.issuer.key, gone_badge, trio.earner)
    await trio.earner.names.set_location(
        trio.earner.key, Uid(credential_uid(gone_badge)), ["http://127.0.0.1:9/badge"]
    )
    status, problem = await _get(trio.verifier, f"/verify/{gone}")
    assert (status, problem["code"]) == (503, "location_unreachable")

    # A location that answers with another badge.
    other = await _publish(trio.issuer, trio.issuer.key, signed(), trio.earner)
    await trio.earner.names.set_location(
        trio.earner.key, Uid(credential_uid(gone_badge)), [_location(trio.earner, other)]
    )
    status, problem = await _get(trio.verifier, f"/verify/{gone}")
    assert (status, problem["code"]) == (502, "location_invalid")


async def test_a_badge_about_a_persona_walks_the_chain_to_its_genesis(trio: Trio) -> None:
    earner = trio.earner
    genesis = build_genesis(
        earner.did,
        persona_name="Ada at work",
        valid_from=_now(),
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
    )
    genesis = sign_credential(genesis, earner.key, created=_now())
    persona = await _publish(earner, earner.key, genesis, earner)
    # The outer entry names no earner key: chain.verify compares a BNS earner with the
    # subject's id, and the subject here is urn:bns:<genesis UID>, not a did:key.
    badge = sign_credential(
        _credential(trio.issuer.did, BNS_URN_PREFIX + persona), trio.issuer.key, created=_now()
    )
    await _publish(trio.issuer, trio.issuer.key, badge, None)

    status, _, report = await _post_json(trio.verifier, "/verify", badge)
    assert status == 200 and report["verdict"] == "valid", report
    assert _check(report, "chain")["code"] == "ok"

    await earner.names.hide(earner.key, Uid(credential_uid(genesis)))
    status, _, report = await _post_json(trio.verifier, "/verify", badge)
    assert report["verdict"] == "indeterminate", report
    assert _check(report, "chain")["code"] == "badge_hidden"


async def test_indexes_list_what_was_published(trio: Trio) -> None:
    badge = sign_credential(
        _credential(trio.issuer.did, trio.earner.did), trio.issuer.key, created=_now()
    )
    uid = await _publish(trio.issuer, trio.issuer.key, badge, trio.earner)
    status, page = await _get(trio.verifier, f"/issuers/{trio.issuer.did}/badges?page=0")
    assert status == 200
    assert page["items"] == [{"uid": uid}] and page["next"] is None
    entry = (await trio.earner.names.resolve(Uid(credential_uid(badge)))).entry
    await index_as_earner(trio.earner.names, trio.earner.key, entry, 1)
    status, page = await _get(trio.verifier, f"/earners/{trio.earner.did}/badges")
    assert status == 200
    assert [(item["uid"], item["issuer"]) for item in page["items"]] == [(uid, trio.issuer.did)]
    status, page = await _get(trio.verifier, f"/earners/{trio.earner.did}/badges?page=1")
    assert (status, page["items"]) == (200, [])


async def test_the_cli_looks_up_and_verifies_through_the_local_node(
    trio: Trio, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    badge = sign_credential(
        _credential(trio.issuer.did, trio.earner.did), trio.issuer.key, created=_now()
    )
    uid = await _publish(trio.issuer, trio.issuer.key, badge, trio.earner)
    home = tmp_path / "cli-home"
    home.mkdir()
    save_config(home, NodeConfig(http_port=trio.verifier.http_port))

    record = await asyncio.to_thread(lookup_command, home, uid)
    assert record["uid"] == uid and record["issuer"] == trio.issuer.did
    assert record["location"]["urls"] == [_location(trio.earner, uid)]

    code = await asyncio.to_thread(verify_online_command, home, uid, True)
    assert code == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "valid"

    tampered = json.loads(json.dumps(badge))
    tampered["validFrom"] = "2020-01-01T00:00:00Z"
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(tampered))
    code = await asyncio.to_thread(verify_online_command, home, str(path), False)
    out = capsys.readouterr().out
    assert code == 1
    assert "verdict: INVALID" in out and "proof failed" in out

    unknown = multibase_encode_b58(trio.issuer.key.sign(b"never published"))
    assert await asyncio.to_thread(verify_online_command, home, unknown, False) == 1
    assert "bns_not_found" in capsys.readouterr().err
    save_config(home, NodeConfig(http_port=9))  # the discard port: no node there
    assert await asyncio.to_thread(verify_online_command, home, uid, False) == 3


# -- did:web ---------------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for `localhost`: the server's TLS context, and a client's trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


@pytest.fixture
async def did_web_host(tmp_path: Path) -> AsyncIterator[tuple[dict[str, Any], int, ssl.SSLContext]]:
    """An HTTPS server on 127.0.0.1 serving the DID documents put in the dict it yields."""
    documents: dict[str, Any] = {}

    async def serve(request: web.Request) -> web.Response:
        document = documents.get(request.path)
        return web.json_response(document) if document else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    server_tls, client_tls = _self_signed(tmp_path)
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
        await site.start()
        yield documents, runner.addresses[0][1], client_tls
    finally:
        await runner.cleanup()


async def test_a_did_web_issuer_is_read_over_https(
    trio: Trio, did_web_host: tuple[dict[str, Any], int, ssl.SSLContext]
) -> None:
    documents, port, client_tls = did_web_host
    # did:web names a domain, never an IP: chain.keys refuses did:web:127.0.0.1.
    did = did_web_from_host("localhost", port)
    issuer = KeyPair.generate()
    documents["/.well-known/did.json"] = build_did_web_document(did, issuer)
    credential = _credential(did, trio.earner.did)
    proof = create_proof(credential, issuer, created=_now(), verification_method=f"{did}#key-1")
    badge = credential | {"proof": proof}
    await _publish(trio.issuer, issuer, badge, trio.earner)
    data = json.dumps(badge).encode()

    report = (await verify_online(trio.verifier, data, tls=client_tls)).to_json()
    assert report["verdict"] == "valid", report
    assert did in _check(report, "issuer_key")["message"]
    assert _check(report, "bns")["status"] == "passed"

    # Through the gateway the node trusts only the system's roots: not this certificate.
    status, _, report = await _post_json(trio.verifier, "/verify", badge)
    assert status == 200 and report["verdict"] == "indeterminate", report
    assert _check(report, "issuer_key")["code"] == "unreachable"

    # A did:web whose document is not there.
    missing = did_web_from_host("localhost", port, ("nobody",))
    credential = _credential(missing, trio.earner.did)
    proof = create_proof(credential, issuer, created=_now(), verification_method=f"{missing}#key-1")
    report = (
        await verify_online(
            trio.verifier, json.dumps(credential | {"proof": proof}).encode(), tls=client_tls
        )
    ).to_json()
    assert _failed(report) == ("issuer_key", "did_not_found")
