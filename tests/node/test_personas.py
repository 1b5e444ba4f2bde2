"""Personas, endorsements and collections on real nodes (issue 5, item 3).

node1 is the earner (it makes a persona), node0 issues to the persona, node2 verifies and
endorses; each check goes through the nodes' HTTP APIs.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner, Result

from badgechain.bns.record import Uid, entry_from_badge
from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.proof import sign_credential
from badgechain.cli.main import main
from badgechain.node.app import RunningNode
from badgechain.node.collections import MAX_COLLECTION_BADGES
from badgechain.node.issuer import IssuerError, persona_earner_key
from tests.node.conftest import NodeNetwork, eventually

Json = Any


async def call(
    http: aiohttp.ClientSession,
    node: RunningNode,
    method: str,
    path: str,
    body: Json = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Json]:
    data = None if body is None else io.BytesIO(json.dumps(body).encode())
    headers = (headers or {}) | ({"Content-Type": "application/json"} if body is not None else {})
    async with http.request(method, node.gateway_url + path, data=data, headers=headers) as answer:
        return answer.status, await answer.json(content_type=None)


async def admin(
    network: NodeNetwork,
    http: aiohttp.ClientSession,
    node: RunningNode,
    method: str,
    path: str,
    body: Json = None,
) -> Json:
    status, answer = await call(http, node, method, path, body, network.admin)
    assert status in (200, 201), (path, status, answer)
    return answer


async def new_persona(network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode) -> Json:
    return await admin(network, http, node, "POST", "/admin/personas", {"name": "Ada at work"})


async def inbox_uids(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode
) -> list[str]:
    answer = await admin(network, http, node, "GET", "/admin/inbox")
    return [item["uid"] for item in answer["badges"]]


async def arrives(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode, uid: str
) -> None:
    async def landed() -> bool:
        return uid in await inbox_uids(network, http, node)

    await eventually(landed, timeout=15)


def signed_badge(issuer: RunningNode, subject: str, now: datetime) -> dict[str, Any]:
    achievement = build_achievement(
        issuer.did, achievement_id="urn:uuid:p2p", name="P2P", description="D", criteria="C"
    )
    credential = build_credential(
        issuer_did=issuer.did,
        subject_id=subject,
        achievement=achievement,
        valid_from=now,
        credential_id="urn:uuid:persona-badge",
    )
    return sign_credential(credential, issuer.key, created=now)


async def issue_to_persona(issuer: RunningNode, urn: str, now: datetime) -> dict[str, Any]:
    """Issue as node/issuer.py will once it names the persona's key: sign a badge to `urn`
    and publish its entry with the earner key `persona_earner_key` gives."""
    signed = signed_badge(issuer, urn, now)
    earner_key = await persona_earner_key(issuer, urn)
    entry = entry_from_badge(signed, issuer.key, earner_key, int(now.timestamp()))
    await issuer.names.publish(issuer.key, entry)
    return signed


# -- personas --------------------------------------------------------------------------------


async def test_a_persona_is_a_published_genesis_badge_naming_the_nodes_key(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner = await node_network.start(2)
    persona = await new_persona(node_network, http, earner)
    uid = persona["uid"]
    assert persona["urn"] == f"urn:bns:{uid}" and persona["state"] == "accepted"
    status, record = await call(http, issuer, "GET", f"/bns/{uid}")
    assert status == 200
    assert record["issuer"] == earner.did and record["earner"] == earner.did
    assert record["location"]["urls"] == [f"{earner.gateway_url}/badges/{uid}.json"]
    status, genesis = await call(http, earner, "GET", f"/badges/{uid}.json")
    assert status == 200 and genesis["credentialSubject"]["id"] == earner.did
    listed = await admin(node_network, http, earner, "GET", "/admin/personas")
    assert [(p["uid"], p["name"]) for p in listed["personas"]] == [(uid, "Ada at work")]
    # The contract node/issuer.py builds on: the earner key behind urn:bns:<persona>.
    assert await persona_earner_key(issuer, persona["urn"]) == earner.key.public_key
    assert await persona_earner_key(issuer, earner.did) is None
    with pytest.raises(IssuerError) as unknown:
        await persona_earner_key(issuer, "urn:bns:" + KeyPair.generate().did[-60:] + "z" * 28)
    assert unknown.value.code in ("subject_unknown", "subject_invalid")


async def test_persona_routes_refuse_bad_input_and_need_the_token(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    status, answer = await call(http, node, "POST", "/admin/personas", {})
    assert (status, answer["code"]) == (401, "admin_token_required")
    for body, code in (({"name": "x" * 3000}, "name_invalid"), ({"nick": "a"}, "field_unknown")):
        status, answer = await call(http, node, "POST", "/admin/personas", body, node_network.admin)
        assert (status, answer["code"]) == (400, code)


async def test_a_persona_chain_and_an_endorsement_verify_across_three_nodes(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    persona = await new_persona(node_network, http, earner)

    # node0 issues to the persona; the entry names node1's key, so node1 takes delivery.
    badge = await issue_to_persona(issuer, persona["urn"], issuer.clock())
    status, answer = await call(http, earner, "POST", "/inbox", badge)
    assert status == 202, answer
    uid = answer["uid"]
    await admin(node_network, http, earner, "POST", "/admin/accept", {"uid": uid})

    status, report = await call(http, verifier, "GET", f"/verify/{uid}")
    assert status == 200 and report["verdict"] == "valid", report
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["chain"]["status"] == "passed" and checks["chain"]["code"] == "ok"
    assert checks["bns"]["code"] == "ok"

    # node2 endorses it: the endorsement reaches node1's inbox and verifies on node0.
    endorsed = await admin(
        node_network, http, verifier, "POST", "/admin/endorse", {"uid": uid, "comment": "Great"}
    )
    assert endorsed["delivery"]["status"] == "delivered", endorsed
    entry = endorsed["credential"]["credentialStatus"]  # revocable like any badge it issues
    assert entry["statusListCredential"].startswith(f"{verifier.gateway_url}/status/")
    endorsement_uid = endorsed["uid"]
    await arrives(node_network, http, earner, endorsement_uid)
    await admin(node_network, http, earner, "POST", "/admin/accept", {"uid": endorsement_uid})
    status, record = await call(http, issuer, "GET", f"/bns/{endorsement_uid}")
    assert record["issuer"] == verifier.did and record["earner"] == earner.did
    status, report = await call(http, issuer, "GET", f"/verify/{endorsement_uid}")
    assert report["verdict"] == "valid", report
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["chain"]["code"] == "ok" and "3 badge(s)" in checks["chain"]["message"]

    status, listed = await call(http, earner, "GET", f"/badges/{uid}/endorsements")
    assert status == 200
    assert [(e["uid"], e["issuer"], e["comment"]) for e in listed["endorsements"]] == [
        (endorsement_uid, verifier.did, "Great")
    ]
    assert listed["endorsements"][0]["credential"]["proof"]["proofValue"] == endorsement_uid

    # A public collection of both, served by node1 to anyone.
    created = await admin(
        node_network,
        http,
        earner,
        "POST",
        "/admin/collections",
        {"name": "Portfolio", "uids": [uid, endorsement_uid], "description": "My work"},
    )
    status, collection = await call(http, earner, "GET", f"/collections/{created['id']}")
    assert status == 200
    assert (collection["name"], collection["description"]) == ("Portfolio", "My work")
    assert [b["uid"] for b in collection["badges"]] == [uid, endorsement_uid]
    first = collection["badges"][0]
    assert first == {
        "uid": uid,
        "name": "P2P",
        "issuer": issuer.did,
        "earner": persona["urn"],
        "json": f"/badges/{uid}.json",
        "png": f"/badges/{uid}.png",
    }
    async with http.get(earner.gateway_url + first["png"]) as png:
        assert png.status == 200 and png.content_type == "image/png"


async def test_issuing_to_a_persona_through_the_admin_api_reaches_its_earner(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    persona = await new_persona(node_network, http, earner)
    badge_class = await admin(
        node_network,
        http,
        issuer,
        "POST",
        "/admin/classes",
        {"name": "P2P", "description": "Built a DHT", "criteria": "Labs"},
    )
    issued = await admin(
        node_network,
        http,
        issuer,
        "POST",
        "/admin/issue",
        {"class_id": badge_class["id"], "to": persona["urn"]},
    )
    uid = issued["uid"]
    _, record = await call(http, issuer, "GET", f"/bns/{uid}")
    assert record["earner"] == earner.did
    await arrives(node_network, http, earner, uid)
    await admin(node_network, http, earner, "POST", "/admin/accept", {"uid": uid})
    _, report = await call(http, verifier, "GET", f"/verify/{uid}")
    assert report["verdict"] == "valid", report


async def test_the_inbox_takes_only_badges_about_what_the_node_holds(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner = await node_network.start(2)
    persona = await new_persona(node_network, http, earner)
    for subject in ("urn:bns:z" + "5" * 87, issuer.did, persona["urn"]):
        badge = signed_badge(issuer, subject, issuer.clock())
        status, answer = await call(http, earner, "POST", "/inbox", badge)
        if subject == persona["urn"]:
            assert status == 202, answer
        else:
            assert (status, answer["code"]) == (422, "not_for_this_node"), subject


async def test_endorsing_a_badge_nobody_published_is_refused(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, _ = await node_network.start(2)  # a lone node has no DHT to publish to
    unknown = {"uid": "z" + "6" * 87}
    status, answer = await call(http, node, "POST", "/admin/endorse", unknown, node_network.admin)
    assert (status, answer["code"]) == (404, "bns_not_found")


async def test_collections_are_bounded_and_their_ids_checked(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, _ = await node_network.start(2)  # a lone node has no DHT to publish to
    persona = await new_persona(node_network, http, node)
    held = persona["uid"]
    not_held = "z" + "7" * 87
    cases = [
        ({"name": "x" * 201, "uids": [held]}, 400, "name_invalid"),
        ({"name": "", "uids": [held]}, 400, "name_invalid"),
        ({"name": "n", "uids": []}, 400, "uids_invalid"),
        ({"name": "n", "uids": [held] * (MAX_COLLECTION_BADGES + 1)}, 400, "uids_invalid"),
        ({"name": "n", "uids": ["nope"]}, 400, "uid_invalid"),
        ({"name": "n", "uids": [not_held]}, 422, "badge_not_held"),
    ]
    for body, expected_status, code in cases:
        status, answer = await call(
            http, node, "POST", "/admin/collections", body, node_network.admin
        )
        assert (status, answer["code"]) == (expected_status, code), body
    created = await admin(
        node_network, http, node, "POST", "/admin/collections", {"name": "n", "uids": [held] * 2}
    )
    assert len(created["id"]) == 22 and len(created["badges"]) == 1
    status, answer = await call(http, node, "GET", "/collections/" + "A" * 22)
    assert (status, answer["code"]) == (404, "collection_not_found")
    status, answer = await call(http, node, "GET", "/collections/short")
    assert (status, answer["code"]) == (400, "collection_id_invalid")
    listed = await admin(node_network, http, node, "GET", "/admin/collections")
    assert [(c["id"], c["count"]) for c in listed["collections"]] == [(created["id"], 1)]


# -- the command line ------------------------------------------------------------------------


async def cli(network: NodeNetwork, node: RunningNode, *args: str) -> Result:
    """Run `badgechain` against `node` in a thread (the CLI runs its own event loop)."""
    home = network.write_cli_home(node)
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, ["--home", str(home), *args])


async def test_cli_persona_new_and_collection_create(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, _ = await node_network.start(2)  # a lone node has no DHT to publish to
    made = await cli(node_network, node, "persona", "new", "--name", "Ada")
    assert made.exit_code == 0, made.output
    uid, urn = made.output.split()
    assert urn == f"urn:bns:{uid}" and len(multibase_decode(uid)) == 64
    listed = await cli(node_network, node, "persona", "list")
    assert listed.exit_code == 0 and urn in listed.output and "Ada" in listed.output

    created = await cli(
        node_network, node, "collection", "create", "Mine", uid, "--description", "d"
    )
    assert created.exit_code == 0, created.output
    collection_id, url, page = created.output.split()
    assert url == f"{node.gateway_url}/collections/{collection_id}"
    assert page == f"{node.gateway_url}/#/collection/{collection_id}"
    status, collection = await call(http, node, "GET", f"/collections/{collection_id}")
    assert status == 200 and [b["uid"] for b in collection["badges"]] == [uid]
    assert Uid(multibase_decode(uid))

    refused = await cli(node_network, node, "collection", "create", "Mine", "z" + "8" * 87)
    assert refused.exit_code == 1 and "badge_not_held" in refused.output
    listed = await cli(node_network, node, "collection", "list")
    assert collection_id in listed.output and "1 badge(s)" in listed.output


async def test_a_persona_left_unpublished_is_published_on_the_next_start(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """A lone node cannot publish: the persona stays stored as "unpublished", and the node
    publishes the very same entry once it restarts with a peer."""
    lone = await node_network.add()
    status, answer = await call(
        http, lone, "POST", "/admin/personas", {"name": "Later"}, node_network.admin
    )
    assert status == 503, answer
    [persona] = (await admin(node_network, http, lone, "GET", "/admin/personas"))["personas"]
    assert persona["state"] == "unpublished"

    await node_network.add()
    peer = await node_network.add()
    lone = await node_network.restart(lone)

    async def published() -> bool:
        listed = await admin(node_network, http, lone, "GET", "/admin/personas")
        return bool(listed["personas"][0]["state"] == "accepted")

    await eventually(published, timeout=15)
    status, record = await call(http, peer, "GET", f"/bns/{persona['uid']}")
    assert status == 200 and record["earner"] == lone.did, record
    assert record["location"]["urls"] == [f"{lone.gateway_url}/badges/{persona['uid']}.json"]


async def test_a_long_non_ascii_persona_name_fits(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """Names go up to the persona limit in any script; the log keeps a shortened copy."""
    earner, _ = await node_network.start(2)
    name = "学" * 700
    persona = await admin(node_network, http, earner, "POST", "/admin/personas", {"name": name})
    assert persona["name"] == name
    [sealed] = [e for e in earner.log.entries() if e["action"] == "sealed"]  # private
    entry = earner.log.opening(sealed["seq"])  # as its owner opens it
    assert entry["action"] == "persona"
    assert name.startswith(entry["details"]["name"]) and entry["details"]["name"]
