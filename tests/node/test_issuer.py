"""The issuer workflow against real in-process nodes over real HTTP: classes, issue one,
batches (and their resumption after a stop), revoke, the VC API, and the admin token."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import click
import pytest
from click.testing import CliRunner, Result

from badgechain.bns import record as bns_record
from badgechain.bns.record import Uid
from badgechain.chain import jsonld, proof, rdfc, signing
from badgechain.chain.images import default_png, default_svg
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_decode, multibase_encode_b58
from badgechain.chain.proof import proof_list, verify_proof
from badgechain.cli.issuer_commands import CsvError, issue_online, read_csv_rows
from badgechain.cli.main import main
from badgechain.node import batches, classes, issuer, pipeline, vcapi
from badgechain.node.app import RunningNode
from badgechain.node.badgestore import load_badge, states
from badgechain.node.issuer import Recipient
from badgechain.node.pipeline import UNPUBLISHED_PREFIX, Issuance
from badgechain.storage import Kind, LevelStore
from tests.node.conftest import NodeNetwork, eventually

CLASS: dict[str, Any] = {
    "name": "Intro to P2P",
    "description": "Built a DHT",
    "criteria": "Passed the labs",
}
VC2 = "https://www.w3.org/ns/credentials/v2"
VC1 = "https://www.w3.org/2018/credentials/v1"

Json = Any


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Json = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Json]:
    # A file-like body: aiohttp warns that a large bytes body blocks the event loop.
    data = None if body is None else io.BytesIO(json.dumps(body).encode())
    headers = (headers or {}) | {"Content-Type": "application/json"}
    async with http.request(method, url, data=data, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def admin(
    network: NodeNetwork,
    http: aiohttp.ClientSession,
    node: RunningNode,
    method: str,
    path: str,
    body: Json = None,
) -> tuple[int, Json]:
    return await call(http, method, node.gateway_url + path, body, network.admin)


async def make_class(network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode) -> str:
    status, answer = await admin(network, http, node, "POST", "/admin/classes", CLASS)
    assert status == 201, answer
    return str(answer["id"])


async def batch_done(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode, batch_id: str
) -> Json:
    answer: Json = None

    async def finished() -> bool:
        nonlocal answer
        _, answer = await admin(network, http, node, "GET", f"/admin/batches/{batch_id}")
        return bool(answer["state"] == "done" and answer["unpublished"] == 0)

    await eventually(finished, timeout=30)
    return answer


def issued_uids(node: RunningNode, batch_id: str | None = None) -> list[bytes]:
    """UIDs the node issued (from its open store, or from its database once it stopped)."""
    stopped = node.stopped.is_set()
    store = LevelStore(str(node.home / "db")) if stopped else node.store
    try:
        return [
            uid
            for uid, state in states(store)
            if state["role"] == "issued" and (batch_id is None or state.get("batch_id") == batch_id)
        ]
    finally:
        if stopped:
            store.close()


def rows_for(earners: Sequence[KeyPair]) -> list[dict[str, Any]]:
    return [{"to": earner.did} for earner in earners]


# --- the admin token ------------------------------------------------------------------------


ADMIN_CALLS = [
    ("POST", "/admin/classes"),
    ("GET", "/admin/classes"),
    ("POST", "/admin/issue"),
    ("POST", "/admin/batches"),
    ("GET", "/admin/batches/abc"),
    ("POST", "/admin/revoke"),
    ("POST", "/credentials/issue"),
]


async def test_admin_calls_need_the_token(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        for method, path in ADMIN_CALLS:
            async with http.request(method, node.gateway_url + path, json={}, headers=headers) as r:
                assert r.status == 401, (method, path)
                assert r.content_type == "application/problem+json"
                assert (await r.json(content_type=None))["code"] == "admin_token_required"
    assert classes.list_classes(node.store) == []


# --- classes --------------------------------------------------------------------------------


async def test_classes_are_created_listed_and_served(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    png = base64.b64encode(default_png()).decode()
    status, made = await admin(
        node_network, http, node, "POST", "/admin/classes", CLASS | {"image": png}
    )
    assert status == 201
    achievement = made["achievement"]
    assert achievement["name"] == CLASS["name"]
    assert achievement["criteria"] == {"narrative": CLASS["criteria"]}
    assert achievement["creator"]["id"] == node.did
    assert achievement["id"].startswith("urn:uuid:")
    assert achievement["image"]["id"] == f"data:image/png;base64,{png}"

    svg = base64.b64encode(default_svg("x")).decode()
    status, second = await admin(
        node_network, http, node, "POST", "/admin/classes", CLASS | {"image": svg}
    )
    assert status == 201 and second["achievement"]["image"]["id"].startswith("data:image/svg+xml")

    status, listed = await admin(node_network, http, node, "GET", "/admin/classes")
    assert status == 200
    assert sorted(c["id"] for c in listed["classes"]) == sorted([made["id"], second["id"]])
    status, public = await call(http, "GET", f"{node.gateway_url}/classes/{made['id']}")
    assert status == 200 and public == achievement
    status, missing = await call(http, "GET", f"{node.gateway_url}/classes/nope")
    assert status == 404 and missing["code"] == "class_not_found"


async def test_a_public_node_names_its_classes_by_url(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    served_at = node.gateway_url
    node = dataclasses.replace(
        node, config=node.config.with_overrides(public_url="https://badges.example.org/")
    )
    record = classes.create_class(node, **CLASS)
    expected = f"https://badges.example.org/classes/{record.id}"
    assert record.achievement is not None and record.achievement["id"] == expected
    status, public = await call(http, "GET", f"{served_at}/classes/{record.id}")
    assert (status, public["id"]) == (200, expected)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "x", "description": "y"}, 400, "field_missing"),
        (CLASS | {"colour": "red"}, 400, "field_unknown"),
        (CLASS | {"name": ""}, 400, "badge_input_invalid"),
        (CLASS | {"name": 5}, 400, "field_invalid"),
        (CLASS | {"image": base64.b64encode(b"GIF89a....").decode()}, 400, "image_invalid"),
        (CLASS | {"image": "not base64!"}, 400, "image_invalid"),
        (CLASS | {"image": "A" * 400_000}, 413, "image_too_large"),
        ([1, 2], 400, "body_invalid"),
    ],
)
async def test_bad_classes_are_refused(
    node_network: NodeNetwork,
    http: aiohttp.ClientSession,
    body: Json,
    status: int,
    code: str,
) -> None:
    (node,) = await node_network.start(1)
    got, answer = await admin(node_network, http, node, "POST", "/admin/classes", body)
    assert (got, answer["code"]) == (status, code)
    assert classes.list_classes(node.store) == []


# --- issuing one badge ----------------------------------------------------------------------


async def test_an_issued_badge_resolves_from_another_node(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, _, far = await node_network.start(3)
    class_id = await make_class(node_network, http, node)
    earner = KeyPair.generate()
    body = {
        "class_id": class_id,
        "to": earner.did,
        "email": "ada@example.org",
        "valid_until": "2999-01-01T00:00:00Z",
        "evidence": ["https://example.org/work/1"],
    }
    status, answer = await admin(node_network, http, node, "POST", "/admin/issue", body)
    assert status == 201, answer
    credential, uid = answer["credential"], answer["uid"]
    assert answer["published"] is True
    assert uid == credential["proof"]["proofValue"]
    assert credential["issuer"]["id"] == node.did
    subject = credential["credentialSubject"]
    assert subject["id"] == earner.did
    assert subject["achievement"]["name"] == CLASS["name"]
    assert subject["identifier"][0]["identityHash"].startswith("sha256$")
    assert "ada@example.org" not in json.dumps(credential)
    assert credential["validUntil"] == "2999-01-01T00:00:00Z"
    assert credential["evidence"][0]["id"] == "https://example.org/work/1"
    check = verify_proof(credential, proof_list(credential)[0], node.key.public_key)
    assert check.ok, check.message

    status, record = await call(http, "GET", f"{far.gateway_url}/bns/{uid}")
    assert status == 200, record
    assert (record["uid"], record["issuer"], record["earner"]) == (uid, node.did, earner.did)
    assert record["revoked"] is False
    assert load_badge(node.store, Uid(multibase_decode(uid))) == credential


async def test_a_badge_for_an_email_only_names_no_earner_key(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, far = await node_network.start(2)
    class_id = await make_class(node_network, http, node)
    body = {"class_id": class_id, "email": "bob@example.org"}
    status, answer = await admin(node_network, http, node, "POST", "/admin/issue", body)
    assert status == 201
    assert "id" not in answer["credential"]["credentialSubject"]
    status, record = await call(http, "GET", f"{far.gateway_url}/bns/{answer['uid']}")
    assert (status, record["issuer"], record["earner"]) == (200, node.did, None)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"class_id": "missing"}, 404, "class_not_found"),
        ({"class_id": "../../x"}, 404, "class_not_found"),
        ({"to": "did:web:example.org"}, 400, "earner_invalid"),
        ({"to": "did:key:z6Mkbroken"}, 400, "earner_invalid"),
        ({"to": None}, 400, "earner_invalid"),
        ({"email": "not-an-address"}, 400, "email_invalid"),
        ({"valid_until": "2001-01-01"}, 400, "valid_until_invalid"),
        ({"valid_until": "soon"}, 400, "valid_until_invalid"),
        ({"evidence": ["ftp://x"]}, 400, "evidence_invalid"),
        ({"evidence": "https://x.org"}, 400, "evidence_invalid"),
        ({"colour": "red"}, 400, "field_unknown"),
    ],
)
async def test_bad_issue_requests_are_refused(
    node_network: NodeNetwork,
    http: aiohttp.ClientSession,
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    node, _ = await node_network.start(2)
    class_id = await make_class(node_network, http, node)
    body = {"class_id": class_id, "to": KeyPair.generate().did} | change
    got, answer = await admin(node_network, http, node, "POST", "/admin/issue", body)
    assert (got, answer["code"]) == (status, code), answer
    assert issued_uids(node) == []


# --- batches --------------------------------------------------------------------------------


async def test_a_batch_issues_every_row_once(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, _, far = await node_network.start(3)
    class_id = await make_class(node_network, http, node)
    earners = [KeyPair.generate() for _ in range(48)]
    rows = [*rows_for(earners), {"email": "x@example.org"}, {"to": earners[0].did}]
    status, started = await admin(
        node_network, http, node, "POST", "/admin/batches", {"class_id": class_id, "rows": rows}
    )
    assert status == 202 and started["total"] == 50
    progress = await batch_done(node_network, http, node, started["batch_id"])
    uids = progress["uids"]
    assert (progress["done"], progress["failed"], len(set(uids))) == (50, 0, 50)
    assert sorted(issued_uids(node, started["batch_id"])) == sorted(
        multibase_decode(u) for u in uids
    )
    for index in (0, 17, 48):
        status, record = await call(http, "GET", f"{far.gateway_url}/bns/{uids[index]}")
        assert status == 200 and record["issuer"] == node.did
    _, record = await call(http, "GET", f"{far.gateway_url}/bns/{uids[17]}")
    assert record["earner"] == earners[17].did


@pytest.mark.parametrize(
    ("rows", "status", "code", "detail"),
    [
        ([], 400, "batch_invalid", "at least one row"),
        ("rows", 400, "batch_invalid", "list"),
        ([{"to": "did:key:z6Mkbroken"}], 400, "earner_invalid", "row 1:"),
        (
            [{"email": "a@b.org"}, {"email": "a@b.org", "valid_until": "x"}],
            400,
            "valid_until_invalid",
            "row 2:",
        ),
        ([{"email": "a@b.org"}] * (batches.MAX_BATCH_ROWS + 1), 413, "batch_too_large", "10000"),
        ([{"email": "a@b.org" + "x" * 500}] * 10_000, 413, "batch_too_large", "bytes"),
    ],
)
async def test_bad_batches_are_refused(
    node_network: NodeNetwork,
    http: aiohttp.ClientSession,
    rows: Json,
    status: int,
    code: str,
    detail: str,
) -> None:
    node, _ = await node_network.start(2)
    class_id = await make_class(node_network, http, node)
    body = {"class_id": class_id, "rows": rows}
    got, answer = await admin(node_network, http, node, "POST", "/admin/batches", body)
    assert (got, answer["code"]) == (status, code), answer
    assert detail in answer["detail"]
    got, answer = await admin(node_network, http, node, "GET", "/admin/batches/nothing-here")
    assert (got, answer["code"]) == (404, "batch_not_found")


async def test_a_stopped_batch_resumes_without_duplicates(
    node_network: NodeNetwork, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, far = await node_network.start(2)
    class_id = await make_class(node_network, http, node)
    total = 30
    # Hold the runner's publishing after its first chunk of five, so the stop lands
    # mid-batch on any machine (rows are signed a chunk ahead of publishing).
    publish_many, chunks = pipeline.publish_many, 0

    async def held_publish(*args: Any, **kwargs: Any) -> int:
        nonlocal chunks
        chunks += 1
        if chunks > 1:
            await asyncio.Event().wait()  # until the stop cancels the runner
        return await publish_many(*args, **kwargs)

    monkeypatch.setattr(batches, "PUBLISH_CHUNK_ROWS", 5)
    monkeypatch.setattr(pipeline, "publish_many", held_publish)
    body = {"class_id": class_id, "rows": rows_for([KeyPair.generate() for _ in range(total)])}
    _, started = await admin(node_network, http, node, "POST", "/admin/batches", body)
    batch_id = started["batch_id"]

    async def some_issued() -> bool:
        _, progress = await admin(node_network, http, node, "GET", f"/admin/batches/{batch_id}")
        return bool(progress["done"] >= 5)

    await eventually(some_issued)
    await node.stop()  # cancels the batch wherever it was
    before = issued_uids(node, batch_id)
    assert 5 <= len(before) < total, "the stop came too late to interrupt the batch"

    monkeypatch.setattr(pipeline, "publish_many", publish_many)
    node = await node_network.restart(node)  # starting resumes unfinished batches...
    await batches.resume_batches(node)  # ...and a second runner of one batch issues nothing twice
    progress = await batch_done(node_network, http, node, batch_id)
    uids = [multibase_decode(uid) for uid in progress["uids"]]
    assert len(uids) == len(set(uids)) == progress["done"] == total
    assert sorted(issued_uids(node, batch_id)) == sorted(uids)
    assert set(before) <= set(uids)
    for uid in progress["uids"][:3] + progress["uids"][-3:]:
        status, _ = await call(http, "GET", f"{far.gateway_url}/bns/{uid}")
        assert status == 200


async def test_a_batch_stored_but_never_started_runs_after_a_restart(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, _ = await node_network.start(2)
    class_id = await make_class(node_network, http, node)
    earners = [KeyPair.generate() for _ in range(5)]
    recipients = [Recipient(e.did, None, None, ()) for e in earners]
    header = batches.create_batch(node, class_id, recipients)
    node = await node_network.restart(node)  # the spawned task never got to run
    assert issued_uids(node) == []
    await batches.resume_batches(node)
    progress = await batch_done(node_network, http, node, str(header.id))
    assert progress["done"] == 5 and len(set(progress["uids"])) == 5


async def test_a_badge_stored_before_a_crash_is_published_on_restart(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """The window between the atomic write and publishing: the mark survives, and the
    restarted node publishes the entry it left."""
    node, far = await node_network.start(2)
    node_network.settings = dataclasses.replace(node_network.settings, queue_retry_first_s=0.2)
    class_id = await make_class(node_network, http, node)
    store = node.store
    earner = KeyPair.generate()
    recipient = Recipient(earner.did, None, None, ())
    now = node.clock()
    achievement = classes.load_achievement(store, class_id)
    issuance = Issuance(
        build=lambda entry: issuer.badge_credential(node.did, achievement, recipient, now, entry),
        state={"role": "issued"},
        earner_key=earner.public_key,
    )
    signed = pipeline.sign_and_store(node, issuance, now)
    uid, text = signed.uid, signed.credential["proof"]["proofValue"]
    # A mark as the node wrote it before marks kept the signing input: re-derived on publish.
    old = pipeline.sign_and_store(node, issuance, now)
    old_mark = json.dumps({"created": 7, "earner": earner.public_key.hex()}).encode()
    store.put(Kind.JOURNAL, UNPUBLISHED_PREFIX + old.uid, old_mark)
    status, _ = await call(http, "GET", f"{far.gateway_url}/bns/{text}")
    assert status == 404

    node = await node_network.restart(node)
    assert await batches.resume_batches(node) == 0

    async def published() -> bool:
        marks = (node.store.get(Kind.JOURNAL, UNPUBLISHED_PREFIX + u) for u in (uid, old.uid))
        return all(mark is None for mark in marks)

    await eventually(published)

    async def seen_far() -> bool:  # `far` learns the restarted node's new port first
        status, _ = await call(http, "GET", f"{far.gateway_url}/bns/{text}")
        return status == 200

    await eventually(seen_far)
    status, record = await call(http, "GET", f"{far.gateway_url}/bns/{text}")
    assert (status, record["earner"], record["created"]) == (200, earner.did, int(now.timestamp()))
    old_text = old.credential["proof"]["proofValue"]
    status, record = await call(http, "GET", f"{far.gateway_url}/bns/{old_text}")
    assert (status, record["earner"], record["created"]) == (200, earner.did, 7)


# --- revoking -------------------------------------------------------------------------------


async def test_a_revocation_is_seen_from_another_node(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, other, far = await node_network.start(3)
    class_id = await make_class(node_network, http, node)
    body = {"class_id": class_id, "to": KeyPair.generate().did}
    _, issued = await admin(node_network, http, node, "POST", "/admin/issue", body)
    uid = issued["uid"]

    revoke = {"uid": uid, "reason": "issued by mistake"}
    status, answer = await admin(node_network, http, other, "POST", "/admin/revoke", revoke)
    assert (status, answer["code"]) == (422, "not_issuer")
    status, record = await admin(node_network, http, node, "POST", "/admin/revoke", revoke)
    assert status == 200, record
    assert record["revoked"] is True and record["revocation"]["reason"] == "issued by mistake"
    status, seen = await call(http, "GET", f"{far.gateway_url}/bns/{uid}")
    assert status == 200 and seen["revoked"] is True
    assert seen["revocation"]["reason"] == "issued by mistake"
    states_by_uid = dict(states(node.store))
    assert states_by_uid[Uid(multibase_decode(uid))]["state"] == "revoked"


@pytest.mark.parametrize(
    ("which", "reason", "status", "code"),
    [
        ("garbage", "x", 400, "uid_invalid"),
        ("issued", "", 400, "reason_invalid"),
        ("issued", "é" * 200, 400, "reason_invalid"),
        ("unknown", "x", 404, "bns_not_found"),
    ],
)
async def test_bad_revocations_are_refused(
    node_network: NodeNetwork,
    http: aiohttp.ClientSession,
    which: str,
    reason: str,
    status: int,
    code: str,
) -> None:
    node, far = await node_network.start(2)
    class_id = await make_class(node_network, http, node)
    issue = {"class_id": class_id, "to": KeyPair.generate().did}
    _, issued = await admin(node_network, http, node, "POST", "/admin/issue", issue)
    uids = {
        "garbage": "zzz",
        "issued": issued["uid"],
        "unknown": multibase_encode_b58(KeyPair.generate().sign(b"never issued")),
    }
    body = {"uid": uids[which], "reason": reason}
    got, answer = await admin(node_network, http, node, "POST", "/admin/revoke", body)
    assert (got, answer["code"]) == (status, code), answer
    got, answer = await admin(node_network, http, node, "POST", "/admin/revoke", {"reason": "x"})
    assert (got, answer["code"]) == (400, "field_missing")
    _, record = await call(http, "GET", f"{far.gateway_url}/bns/{issued['uid']}")
    assert record["revoked"] is False


# --- the VC API -----------------------------------------------------------------------------


def vc2(subject: str, issuer_id: Json = None) -> dict[str, Any]:
    credential: dict[str, Any] = {
        "@context": [VC2],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": subject},
        "validFrom": "2025-01-01T00:00:00Z",
    }
    if issuer_id is not None:
        credential["issuer"] = issuer_id
    return credential


def vc1(subject: str, issuer_id: str | None = None, **claims: Any) -> dict[str, Any]:
    credential: dict[str, Any] = {
        "@context": [VC1],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"id": subject, **claims},
    }
    if issuer_id is not None:
        credential["issuer"] = issuer_id
    return credential


async def test_credentials_issue_signs_vc2_and_vc11(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, far = await node_network.start(2)
    earner = KeyPair.generate()
    cases = [
        (vc2(earner.did), node.did),
        (
            vc2(earner.did, {"name": "School"}),
            {"name": "School", "id": node.did},
        ),
        (vc1(earner.did, node.did), node.did),
    ]
    for credential, expected_issuer in cases:
        body = {"credential": credential, "options": {}}
        status, answer = await admin(node_network, http, node, "POST", "/credentials/issue", body)
        assert status == 201, answer
        signed = answer["verifiableCredential"]
        assert signed["issuer"] == expected_issuer
        proof = proof_list(signed)[0]
        assert proof["cryptosuite"] == "eddsa-rdfc-2022"
        assert verify_proof(signed, proof, node.key.public_key).ok
        if signed["@context"][0] == VC1:
            assert signed["@context"][1] == vcapi.DATA_INTEGRITY_CONTEXT
            assert "issuanceDate" in signed
        status, record = await call(http, "GET", f"{far.gateway_url}/bns/{proof['proofValue']}")
        assert (status, record["issuer"], record["earner"]) == (200, node.did, earner.did)
    assert len(issued_uids(node)) == len(cases)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"credential": vc2("did:example:1") | {"proof": {}}}, 400, "proof_present"),
        ({"credential": vc2("did:example:1", KeyPair.generate().did)}, 422, "issuer_mismatch"),
        ({"credential": vc2("did:example:1", {"id": "did:web:x.org"})}, 422, "issuer_mismatch"),
        (
            {"credential": vc2("did:example:1") | {"@context": ["https://x.org/ctx"]}},
            400,
            "credential_invalid",
        ),
        ({"credential": vc2("did:example:1") | {"type": ["Thing"]}}, 400, "credential_invalid"),
        (
            {"credential": {"@context": [VC2], "type": ["VerifiableCredential"]}},
            400,
            "credential_invalid",
        ),
        ({"credential": vc1("did:example:1", undefinedTerm=1)}, 422, "jsonld_undefined_term"),
        ({"credential": vc2("did:example:1"), "options": []}, 400, "options_invalid"),
        ({"verifiableCredential": {}}, 400, "field_missing"),
    ],
)
async def test_credentials_issue_refuses(
    node_network: NodeNetwork, http: aiohttp.ClientSession, body: Json, status: int, code: str
) -> None:
    node, _ = await node_network.start(2)
    got, answer = await admin(node_network, http, node, "POST", "/credentials/issue", body)
    assert (got, answer["code"]) == (status, code), answer
    assert issued_uids(node) == []


# --- the command line -----------------------------------------------------------------------


@click.command()
@click.option("--class", "class_id", required=True)
@click.option("--to", default=None)
@click.option("--email", default=None)
@click.option("--csv", "csv_file", type=click.Path(path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def online_issue(
    home: Path,
    class_id: str,
    to: str | None,
    email: str | None,
    csv_file: Path | None,
    as_json: bool,
) -> None:
    """Stands in for cli/main.py's `issue --class` until it is wired to issue_online."""
    from badgechain.cli.common import reports_errors

    reports_errors(issue_online)(home, class_id, to, email, None, (), csv_file, as_json)


async def run_cli(*args: str, command: click.Command = main, home: Path | None = None) -> Result:
    """Run a command in a thread: the CLI runs its own event loop, the node runs in ours."""
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, command, list(args), obj=home)


async def test_the_cli_creates_classes_issues_and_revokes(
    node_network: NodeNetwork, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    node, far = await node_network.start(2)
    home = node_network.write_cli_home(node)
    image = tmp_path / "badge.png"
    image.write_bytes(default_png())
    made = await run_cli(
        "--home", str(home), "class", "create", *_class_args(), "--image", str(image)
    )
    assert made.exit_code == 0, made.output
    class_id = made.output.strip()
    listed = await run_cli("--home", str(home), "class", "list")
    assert class_id in listed.output and CLASS["name"] in listed.output
    listed = await run_cli("--home", str(home), "class", "list", "--json")
    assert [c["id"] for c in json.loads(listed.output)] == [class_id]

    earner = KeyPair.generate()
    issued = await run_cli("--class", class_id, "--to", earner.did, command=online_issue, home=home)
    assert issued.exit_code == 0, issued.output
    uid = issued.stdout.strip()  # stderr says what became of the delivery
    status, record = await call(http, "GET", f"{far.gateway_url}/bns/{uid}")
    assert (status, record["earner"]) == (200, earner.did)

    missing = await run_cli("--class", "nope", "--to", earner.did, command=online_issue, home=home)
    assert missing.exit_code == 1 and "class_not_found" in missing.output

    revoked = await run_cli("--home", str(home), "revoke", uid, "--reason", "mistake")
    assert revoked.exit_code == 0, revoked.output
    status, record = await call(http, "GET", f"{far.gateway_url}/bns/{uid}")
    assert record["revoked"] is True


async def test_the_cli_issues_a_csv_batch(
    node_network: NodeNetwork, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    node, far = await node_network.start(2)
    home = node_network.write_cli_home(node)
    class_id = await make_class(node_network, http, node)
    earners = [KeyPair.generate() for _ in range(6)]
    lines = ["to,email,valid_until,evidence"]
    lines += [f"{e.did},,2999-01-01,https://x.org/a https://x.org/b" for e in earners]
    lines.append(",carol@example.org,,")
    sheet = tmp_path / "earners.csv"
    sheet.write_text("\n".join(lines) + "\n")
    result = await run_cli(
        "--class", class_id, "--csv", str(sheet), "--json", command=online_issue, home=home
    )
    assert result.exit_code == 0, result.output
    uids = json.loads(result.stdout)
    assert len(set(uids)) == 7
    status, record = await call(http, "GET", f"{far.gateway_url}/bns/{uids[2]}")
    assert (status, record["earner"]) == (200, earners[2].did)
    badge = load_badge(node.store, Uid(multibase_decode(uids[0])))
    assert badge is not None and [e["id"] for e in badge["evidence"]] == [
        "https://x.org/a",
        "https://x.org/b",
    ]


def _class_args() -> list[str]:
    return [arg for name, value in CLASS.items() for arg in (f"--{name}", value)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1 must be a header"),
        ("did,mail\nx,y\n", "line 1 must be a header"),
        ("to,email\n", "no rows"),
        ("to,email\ndid:key:z6Mkbroken,\n", "line 2:"),
        ("to,email\n,a@b.org\n,a@b.org,extra\n", "line 3: more cells"),
        ('to,email\n,a@b.org\n"\n",a@b.org\n,nope\n', "line 5:"),
        ("email,valid_until\na@b.org,yesterday\n", "line 2: valid_until"),
    ],
)
def test_bad_csv_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    sheet = tmp_path / "rows.csv"
    sheet.write_text(text)
    with pytest.raises(CsvError, match=message):
        read_csv_rows(sheet)


def test_a_csv_file_becomes_recipients(tmp_path: Path) -> None:
    earner = KeyPair.generate()
    sheet = tmp_path / "rows.csv"
    sheet.write_bytes(
        "\ufeffTo, Email ,evidence\n"
        f"{earner.did},,https://a.org/1  https://a.org/2\n"
        ",zoë@example.org,\n".encode()
    )
    assert read_csv_rows(sheet) == [
        {"to": earner.did, "evidence": ["https://a.org/1", "https://a.org/2"]},
        {"email": "zoë@example.org"},
    ]


async def test_an_issued_badge_computes_its_signing_input_once(
    node_network: NodeNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signing computes it (for eddsa-rdfc-2022 two canonicalisations: proof options and
    document); publishing the BNS entry takes it from the mark instead of computing it again."""
    node, _ = await node_network.start(2)
    record = classes.create_class(node, **CLASS)
    computed = 0

    def counting(*args: Any, **kwargs: Any) -> bytes:
        nonlocal computed
        computed += 1
        return real(*args, **kwargs)

    real = proof.signing_input
    for module in (proof, signing, bns_record):
        monkeypatch.setattr(module, "signing_input", counting)
    recipient = Recipient(KeyPair.generate().did, None, None, ())
    result = await issuer.issue_badge(node, str(record.id), recipient)
    assert result.published and computed == 1


def count_canonicalisations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count RDFC-1.0 runs: every canonicalisation (chain/jsonld.py canonize) goes through
    jsonld.canonicalize; the real one runs. The proof configurations' hash cache starts
    empty, so the count is what a node pays for its first badge."""
    calls = [0]
    real = rdfc.canonicalize  # what jsonld.canonize calls

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(jsonld, "canonicalize", counted)
    monkeypatch.setattr(proof, "_config_hashes", type(proof._config_hashes)())
    return calls


async def test_an_issued_badge_costs_two_canonicalisations_at_most(
    node_network: NodeNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 item 3: the proof options and the document, once each, in the whole pipeline
    (sign, store, publish, queue for delivery); a later badge reuses the options' hash while
    their `created` second is the same."""
    node, _ = await node_network.start(2)
    record = classes.create_class(node, **CLASS)
    calls = count_canonicalisations(monkeypatch)
    recipient = Recipient(KeyPair.generate().did, "a@example.org", None, ())
    assert (await issuer.issue_badge(node, str(record.id), recipient)).published
    assert calls == [2]
    for _ in range(3):
        assert (await issuer.issue_badge(node, str(record.id), recipient)).published
    assert 2 + 3 <= calls[0] <= 2 * 4


async def test_a_batch_indexes_each_badge_once_and_costs_two_canonicalisations_at_most(
    node_network: NodeNetwork, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are published a chunk at a time (many index items per page write): every badge
    is in its issuer's index once, read from another node, and in no earner's index until
    its earner accepts it (issue 14 item 4)."""
    node, _, far = await node_network.start(3)
    class_id = await make_class(node_network, http, node)
    calls = count_canonicalisations(monkeypatch)
    earner, other = KeyPair.generate(), KeyPair.generate()
    rows = [{"to": (other if n % 5 == 0 else earner).did} for n in range(100)]
    body = {"class_id": class_id, "rows": rows}
    _, started = await admin(node_network, http, node, "POST", "/admin/batches", body)
    progress = await batch_done(node_network, http, node, started["batch_id"])
    uids = sorted(multibase_decode(uid) for uid in progress["uids"])
    assert (progress["done"], progress["failed"], len(set(uids))) == (100, 0, 100)
    assert 100 < calls[0] <= 2 * 100
    reader = far.names
    assert sorted(await reader.list_by_issuer(node.key.public_key)) == uids
    by_earner = [entry.uid for entry in await reader.list_by_earner(earner.public_key)]
    by_other = [entry.uid for entry in await reader.list_by_earner(other.public_key)]
    assert (len(by_earner), len(by_other)) == (0, 0)
