"""Presentations and stapled status across real nodes on 127.0.0.1 (issue 14 items 1-2): an
issuer, an earner who accepts and presents, a verifier who hands out challenges; the CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from badgechain.bns.staple_reader import record_staple_extra
from badgechain.chain.holder import Binding, build_presentation, sign_presentation
from badgechain.chain.holder import verify_holder_presentation as verify_holder
from badgechain.chain.keys import KeyPair
from badgechain.chain.resolve import Resolvers
from badgechain.chain.stapled import STAPLES_PROPERTY
from badgechain.chain.verify import verify_badge, verify_credential
from badgechain.cli.main import main
from badgechain.node.app import RunningNode
from tests.node.conftest import NodeNetwork, eventually

pytestmark = pytest.mark.slow

CLASS = {"name": "Presenting", "description": "Shown as its holder", "criteria": "Passed"}
DOMAIN = "verifier.example"
OFFLINE = Resolvers(extra=record_staple_extra())
Json = Any


async def _post(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode, path: str, body: Json
) -> tuple[int, Json]:
    async with http.post(node.gateway_url + path, json=body, headers=network.admin) as response:
        return response.status, await response.json(content_type=None)


async def _held_badge(
    network: NodeNetwork,
    http: aiohttp.ClientSession,
    issuer: RunningNode,
    earner: RunningNode,
    to: str | None = None,
) -> Json:
    """A badge `issuer` issues to `earner` (or one of its personas), delivered and accepted."""
    status, made = await _post(network, http, issuer, "/admin/classes", CLASS)
    assert status == 201, made
    body = {"class_id": made["id"], "to": to or earner.did}
    status, answer = await _post(network, http, issuer, "/admin/issue", body)
    assert status == 201 and answer["published"], answer

    async def delivered() -> bool:
        async with http.get(earner.gateway_url + "/admin/inbox", headers=network.admin) as r:
            inbox = await r.json()
        return answer["uid"] in [item["uid"] for item in inbox["badges"]]

    await eventually(delivered, 20)
    status, accepted = await _post(network, http, earner, "/admin/accept", {"uid": answer["uid"]})
    assert status == 200, accepted
    return answer


async def _challenge(
    network: NodeNetwork, http: aiohttp.ClientSession, verifier: RunningNode
) -> str:
    status, issued = await _post(
        network, http, verifier, "/presentations/challenge", {"domain": DOMAIN}
    )
    assert status == 201, issued
    assert issued["domain"] == DOMAIN and issued["expires"] > ""
    challenge: str = issued["challenge"]
    return challenge


async def _present(
    network: NodeNetwork, http: aiohttp.ClientSession, earner: RunningNode, uid: str, challenge: str
) -> Json:
    body = {"uids": [uid], "challenge": challenge, "domain": DOMAIN}
    status, presentation = await _post(network, http, earner, "/admin/present", body)
    assert status == 200, presentation
    return presentation


async def _verify_at(
    network: NodeNetwork,
    http: aiohttp.ClientSession,
    verifier: RunningNode,
    presentation: Json,
    challenge: str,
    domain: str | None = DOMAIN,
) -> tuple[int, Json]:
    options = {"challenge": challenge} | ({"domain": domain} if domain else {})
    body = {"verifiablePresentation": presentation, "options": options}
    async with asyncio.timeout(60):
        return await _post(network, http, verifier, "/presentations/verify", body)


async def test_a_presentation_verifies_once_per_challenge_and_carries_its_staple(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    answer = await _held_badge(node_network, http, issuer, earner)
    challenge = await _challenge(node_network, http, verifier)
    presentation = await _present(node_network, http, earner, answer["uid"], challenge)
    assert presentation["holder"] == earner.did
    assert presentation["proof"]["proofPurpose"] == "authentication"
    assert presentation["proof"]["challenge"] == challenge
    (staple,) = presentation[STAPLES_PROPERTY]["@value"]
    assert staple["uid"] == answer["uid"] and staple["bnsRecord"]
    assert (
        staple["statusLists"][0]["id"]
        == answer["credential"]["credentialStatus"]["statusListCredential"]
    )

    status, result = await _verify_at(node_network, http, verifier, presentation, challenge)
    assert status == 200 and result["verified"], result
    status, again = await _verify_at(node_network, http, verifier, presentation, challenge)
    assert (status, again["code"]) == (422, "challenge_replayed")

    verifier = await node_network.restart(verifier)  # the used challenge is on disk
    status, after = await _verify_at(node_network, http, verifier, presentation, challenge, None)
    assert (status, after["code"]) == (422, "challenge_replayed")


async def test_a_persona_held_badge_is_presented_by_the_root_key_with_its_chain(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    status, persona = await _post(node_network, http, earner, "/admin/personas", {"name": "Work"})
    assert status == 201, persona
    answer = await _held_badge(node_network, http, issuer, earner, to=persona["urn"])
    challenge = await _challenge(node_network, http, verifier)
    presentation = await _present(node_network, http, earner, answer["uid"], challenge)
    carried = [item["proof"]["proofValue"] for item in presentation["verifiableCredential"]]
    assert carried == [answer["uid"], persona["uid"]]
    assert presentation["holder"] == earner.did
    status, result = await _verify_at(node_network, http, verifier, presentation, challenge)
    assert status == 200 and result["verified"], result
    offline = verify_holder(
        presentation,
        Binding(challenge, DOMAIN),
        now=verifier.clock(),
        resolvers=OFFLINE,
        verify_credential=verify_credential,
    )
    assert offline.verdict == "valid", offline.to_json()


async def test_bad_presentations_get_stable_codes(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    answer = await _held_badge(node_network, http, issuer, earner)

    challenge = await _challenge(node_network, http, verifier)
    status, unknown = await _verify_at(node_network, http, verifier, {"type": "x"}, "never-issued")
    assert (status, unknown["code"]) == (422, "challenge_unknown")
    status, other_domain = await _verify_at(
        node_network, http, verifier, {"type": "x"}, challenge, "evil.example"
    )
    assert (status, other_domain["code"]) == (422, "domain_mismatch")

    # Signed for another domain than the challenge was handed out for.
    body = {"uids": [answer["uid"]], "challenge": challenge, "domain": "evil.example"}
    status, wrong = await _post(node_network, http, earner, "/admin/present", body)
    assert status == 200, wrong
    status, result = await _verify_at(node_network, http, verifier, wrong, challenge, None)
    assert (status, result["code"]) == (422, "domain_mismatch")

    # A copy of the earner's badge, presented by another key.
    thief = KeyPair.generate()
    stolen = build_presentation(thief.did, [answer["credential"]], [])
    signed = sign_presentation(stolen, thief, Binding(challenge, DOMAIN), created=verifier.clock())
    status, refused = await _verify_at(node_network, http, verifier, signed, challenge)
    assert (status, refused["code"]) == (422, "presentation_not_holder")

    # The earner's node will not present what it does not hold, nor someone else's badge.
    body = {"uids": [answer["uid"]], "challenge": challenge, "domain": DOMAIN}
    status, not_held = await _post(node_network, http, verifier, "/admin/present", body)
    assert (status, not_held["code"]) == (404, "badge_not_found")
    status, not_theirs = await _post(node_network, http, issuer, "/admin/present", body)
    assert (status, not_theirs["code"]) == (422, "presentation_not_holder")
    status, bad = await _post(
        node_network, http, verifier, "/presentations/challenge", {"domain": ""}
    )
    assert (status, bad["code"]) == (400, "domain_invalid")


async def test_a_staple_answers_offline_until_a_fresher_answer_says_revoked(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    answer = await _held_badge(node_network, http, issuer, earner)
    binding = Binding("offline-challenge", DOMAIN)
    presentation = await _present(node_network, http, earner, answer["uid"], binding.challenge)
    now = verifier.clock()

    offline = verify_holder(
        presentation, binding, now=now, resolvers=OFFLINE, verify_credential=verify_credential
    )
    assert offline.verdict == "valid", offline.to_json()
    assert "stapled" in offline.check("chain").message or offline.check("chain").code == "ok"

    async with http.get(f"{earner.gateway_url}/badges/{answer['uid']}/stapled") as response:
        assert response.status == 200
        stapled = await response.read()
    single = verify_badge(stapled, now=now, resolvers=OFFLINE)
    assert single.verdict == "valid", single.to_json()
    assert (single.check("status").code, single.check("bns").code) == ("stapled", "stapled")

    later = now + timedelta(hours=2)  # past the stapled list's validUntil
    stale = verify_badge(stapled, now=later, resolvers=OFFLINE)
    assert stale.verdict == "indeterminate"
    assert stale.check("status").code == "staple_stale"

    status, revoked = await _post(
        node_network, http, issuer, "/admin/revoke", {"uid": answer["uid"], "reason": "error"}
    )
    assert status == 200, revoked
    challenge = await _challenge(node_network, http, verifier)
    old = json.loads(stapled)  # the staple made before the revocation, the network now
    status, result = await _verify_at(
        node_network, http, verifier, _resign(presentation, earner, challenge), challenge
    )
    assert status == 422 and result["code"] == "presentation_credential_invalid", result
    async with http.post(verifier.gateway_url + "/verify", json=old) as response:
        report = await response.json()
    assert report["verdict"] == "invalid"
    codes = {check["name"]: check["code"] for check in report["checks"]}
    assert codes["revocation"] == "revoked"


def _resign(presentation: Json, earner: RunningNode, challenge: str) -> Json:
    """The same presentation (its old staples) signed for a new challenge."""
    unsigned = {name: value for name, value in presentation.items() if name != "proof"}
    return sign_presentation(
        unsigned, earner.key, Binding(challenge, DOMAIN), created=earner.clock()
    )


async def test_present_and_verify_from_the_cli(
    node_network: NodeNetwork, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    issuer, earner = await node_network.start(2)
    answer = await _held_badge(node_network, http, issuer, earner)
    home = node_network.write_cli_home(earner)
    out = tmp_path / "vp.json"
    runner = CliRunner()
    args = ["--home", str(home), "present", answer["uid"], "--challenge", "c-cli"]
    made = await asyncio.to_thread(
        runner.invoke, main, [*args, "--domain", DOMAIN, "--out", str(out)]
    )
    assert made.exit_code == 0, made.output
    assert json.loads(out.read_text())["proof"]["domain"] == DOMAIN

    verifier_home = tmp_path / "verifier"
    verifier_home.mkdir()
    check = ["--home", str(verifier_home), "verify", str(out), "--offline"]
    first = await asyncio.to_thread(
        runner.invoke, main, [*check, "--challenge", "c-cli", "--domain", DOMAIN]
    )
    assert first.exit_code == 0, first.output
    replay = await asyncio.to_thread(
        runner.invoke, main, [*check, "--challenge", "c-cli", "--domain", DOMAIN, "--json"]
    )
    assert replay.exit_code == 1, replay.output
    assert "challenge_replayed" in replay.output
    wrong = await asyncio.to_thread(
        runner.invoke, main, [*check, "--challenge", "c-other", "--domain", DOMAIN, "--json"]
    )
    assert wrong.exit_code == 1 and "challenge_mismatch" in wrong.output
    usage = await asyncio.to_thread(runner.invoke, main, [*check, "--challenge", "c-cli"])
    assert usage.exit_code == 2

    # With the network: the BNS asked through a gateway, the status list fetched.
    networked = ["--home", str(verifier_home), "verify", str(out), "--gateway", earner.gateway_url]
    fresh_home = tmp_path / "networked"
    fresh_home.mkdir()
    networked[1] = str(fresh_home)
    online = await asyncio.to_thread(
        runner.invoke, main, [*networked, "--challenge", "c-cli", "--domain", DOMAIN, "--json"]
    )
    assert online.exit_code == 0, online.output
    codes = {c["name"]: c["code"] for c in json.loads(online.output)["checks"]}
    assert codes["proof"] == "ok" and codes["chain"] == "ok"


async def test_the_gateway_reads_a_stapled_badge_and_reports_a_forged_record(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    from tests.chain.test_holder import HOLDER, _badge, _record, _staple

    (node,) = await node_network.start(1)
    badge = _badge(HOLDER.did, url="http://127.0.0.1:9/status/AAAAAAAAAAAA")  # nobody there
    record = bytearray(_record(badge, revoked=True))
    record[-1] ^= 1  # the revocation's signature no longer verifies
    document = {
        "type": "StapledCredential",
        "verifiableCredential": badge,
        "staple": _staple(badge, lists=[], record=bytes(record)),
    }
    async with asyncio.timeout(60), http.post(node.gateway_url + "/verify", json=document) as r:
        assert r.status == 200
        report = await r.json()
    status = {check["name"]: check for check in report["checks"]}["status"]
    assert report["verdict"] == "indeterminate"  # the issuer's list cannot be reached here
    assert status["code"] == "staple_forged", status
