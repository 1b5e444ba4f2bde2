"""The home's [issuer] name in every badge its node issues (a class badge, a batch row, an
Open Badge signed through the VC API, an endorsement), as another node that verifies it
sees it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair
from badgechain.node.app import RunningNode
from tests.node.conftest import NodeNetwork, eventually
from tests.node.test_issuer import admin, batch_done, call, make_class, vc2

NAME = "Ada's School of Networks ✓"


async def _accepted(
    network: NodeNetwork, http: aiohttp.ClientSession, earner: RunningNode, uid: str
) -> None:
    """Wait for `uid` in the earner's inbox and accept it (its location is then public)."""

    async def delivered() -> bool:
        _, answer = await admin(network, http, earner, "GET", "/admin/inbox")
        return uid in str(answer)

    await eventually(delivered, 15)
    status, answer = await admin(network, http, earner, "POST", "/admin/accept", {"uid": uid})
    assert status == 200, answer


async def test_a_class_badge_names_its_issuer_on_the_node_that_verifies_it(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer = await node_network.add("issuer", issuer_name=NAME)
    earner = await node_network.add("earner")
    class_id = await make_class(node_network, http, issuer)
    body = {"class_id": class_id, "to": earner.did}
    status, answer = await admin(node_network, http, issuer, "POST", "/admin/issue", body)
    assert status == 201, answer
    uid = answer["uid"]
    assert answer["credential"]["issuer"] == {"id": issuer.did, "type": ["Profile"], "name": NAME}
    achievement = answer["credential"]["credentialSubject"]["achievement"]
    assert achievement["creator"]["name"] == NAME  # the class names its creator too
    await _accepted(node_network, http, earner, uid)
    path = f"{earner.gateway_url}/verify/{uid}?include=credential"
    status, report = await call(http, "GET", path)
    assert (status, report["verdict"]) == (200, "valid"), report
    assert report["credential"]["issuer"]["name"] == NAME
    _, health = await call(http, "GET", issuer.gateway_url + "/health")
    assert health["name"] == NAME  # the issuer's own page names it too

    # A named node's endorsement of the badge names its endorser the same way.
    reviewer = await node_network.add("reviewer", issuer_name="Reviewer")
    body = {"uid": uid, "comment": "Great"}
    status, endorsed = await admin(node_network, http, reviewer, "POST", "/admin/endorse", body)
    assert status == 201, endorsed
    assert endorsed["credential"]["issuer"]["name"] == "Reviewer"
    await _accepted(node_network, http, earner, endorsed["uid"])
    status, report = await call(http, "GET", f"{issuer.gateway_url}/verify/{endorsed['uid']}")
    assert report["verdict"] == "valid", report


async def test_batch_rows_name_their_issuer_and_an_unnamed_node_names_none(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    named = await node_network.add("named", issuer_name=NAME)
    unnamed = await node_network.add("unnamed")
    for node, expected in ((named, NAME), (unnamed, None)):
        class_id = await make_class(node_network, http, node)
        rows = {"class_id": class_id, "rows": [{"to": KeyPair.generate().did}]}
        status, started = await admin(node_network, http, node, "POST", "/admin/batches", rows)
        assert status == 202, started
        done = await batch_done(node_network, http, node, started["batch_id"])
        status, badge = await call(http, "GET", f"{node.gateway_url}/badges/{done['uids'][0]}")
        assert status == 200, badge
        assert badge["issuer"].get("name") == expected


def _open_badge(issuer_did: str, subject: str) -> dict[str, Any]:
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
        valid_from=datetime.now(UTC) - timedelta(minutes=1),
        credential_id=f"urn:uuid:{uuid.uuid4()}",
    )


async def test_the_vc_api_names_the_issuer_of_an_open_badge_only(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer = await node_network.add("issuer", issuer_name=NAME)
    verifier = await node_network.add("verifier")
    earner = KeyPair.generate().did
    by_did = _open_badge(issuer.did, earner) | {"issuer": issuer.did}
    named_by_caller = _open_badge(issuer.did, earner)
    named_by_caller["issuer"]["name"] = "The Caller's Name"
    cases = [
        (by_did, {"id": issuer.did, "type": ["Profile"], "name": NAME}),
        (named_by_caller, {"id": issuer.did, "type": ["Profile"], "name": "The Caller's Name"}),
        (vc2(earner), issuer.did),  # a plain VC 2.0 credential: no Profile terms to add
    ]
    for credential, expected in cases:
        body = {"credential": credential, "options": {}}
        status, answer = await admin(node_network, http, issuer, "POST", "/credentials/issue", body)
        assert status == 201, answer
        signed = answer["verifiableCredential"]
        assert signed["issuer"] == expected
        status, report = await call(http, "POST", verifier.gateway_url + "/verify", signed)
        assert report["verdict"] == "valid", report
