"""Earner lookup for personas and did:web earners (issue 14 item 4, docs/bns.md "Earner
lookup"), across real nodes on 127.0.0.1: `GET /earners/{id}/badges` and `badgechain
earner-badges` find the key that signs the index items (a persona's root key through its
genesis badge's BNS entry; a did:web's key through its DID document over HTTPS), and show
only the items that key signed.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from badgechain.bns.earner_index import entries_signed_by
from badgechain.bns.index import EarnerItem, EarnerPage, earner_item_signed_bytes
from badgechain.bns.record import entry_from_badge
from badgechain.bns.values import address_of_key
from badgechain.chain.keys import KeyPair, verify_signature
from badgechain.chain.uid import uid_text
from badgechain.cli.main import main
from badgechain.node.app import RunningNode
from badgechain.node.badgestore import credential_uid
from badgechain.node.outbound import TLS_CA_FILE_ENV
from badgechain.storage import Kind
from tests.node.conftest import NodeNetwork
from tests.node.test_didweb import Domain, domain, issued_and_accepted  # noqa: F401
from tests.node.test_issuer import make_class
from tests.node.test_personas import admin, arrives, call, new_persona, signed_badge

Json = Any


async def _listed(http: aiohttp.ClientSession, reader: RunningNode, earner: str) -> Json:
    status, page = await call(http, reader, "GET", f"/earners/{earner}/badges")
    assert status == 200, page
    return page


def _uids(page: Json) -> set[str]:
    return {item["uid"] for item in page["items"]}


async def _issue_to(
    network: NodeNetwork, http: aiohttp.ClientSession, issuer: RunningNode, subject: str
) -> str:
    class_id = await make_class(network, http, issuer)
    body = {"class_id": class_id, "to": subject}
    return str((await admin(network, http, issuer, "POST", "/admin/issue", body))["uid"])


@pytest.mark.slow
async def test_a_persona_lists_what_its_root_key_signed_and_nothing_else(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner, reader = await node_network.start(3)
    persona = await new_persona(node_network, http, earner)
    urn = persona["urn"]
    uid = await _issue_to(node_network, http, issuer, urn)
    await arrives(node_network, http, earner, uid)
    genesis = persona["uid"]  # the persona itself is in its key's index
    assert _uids(await _listed(http, reader, urn)) == {genesis}  # not accepted yet
    await admin(node_network, http, earner, "POST", "/admin/accept", {"uid": uid})

    page = await _listed(http, reader, urn)
    assert page["earner"] == urn and page["key"] == earner.did
    assert _uids(page) == {genesis, uid}
    assert {item["issuer"] for item in page["items"]} == {issuer.did, earner.did}

    # An item another key signed, for a real badge naming the persona's key, kept in the
    # reader's own copy of the page (a copy counts without a check): never shown, and no
    # storing node takes it.
    other = signed_badge(issuer, urn, issuer.clock())
    entry = entry_from_badge(other, issuer.key, earner.key.public_key, int(time.time()))
    await issuer.names.publish(issuer.key, entry)
    signed = earner_item_signed_bytes(earner.key.public_key, 0, entry.uid)
    forged = EarnerPage(earner.key.public_key, 0, (EarnerItem(entry, issuer.key.sign(signed)),))
    address = address_of_key(forged.key)
    assert reader.dht.accept_store(address, forged.to_wire_bytes(), None) == "index_item_forged"
    reader.store.put(Kind.BNS_RECORD, address, forged.to_wire_bytes())
    assert entries_signed_by(forged, earner.key.public_key) == ()
    page = await _listed(http, reader, urn)
    assert _uids(page) == {genesis, uid}
    assert uid_text(credential_uid(other)) not in json.dumps(page)

    # The CLI asks its node the same.
    home = node_network.write_cli_home(reader)
    ran = await asyncio.to_thread(
        CliRunner().invoke, main, ["--home", str(home), "earner-badges", urn, "--json"]
    )
    assert ran.exit_code == 0, ran.output
    answer = json.loads(ran.output)
    assert answer["key"] == earner.did and _uids(answer) == {genesis, uid}


@pytest.mark.slow
async def test_an_id_that_names_no_persona_is_refused(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, earner = await node_network.start(2)
    uid = await _issue_to(node_network, http, issuer, earner.did)  # a badge, not a persona
    for earner_id, status, code in (
        (f"urn:bns:{uid}", 422, "earner_not_persona"),
        ("urn:bns:z" + "5" * 87, 404, "earner_unknown"),
        ("urn:bns:zzz", 400, "earner_id_invalid"),
        ("mailto:ada@example.org", 400, "did_unsupported"),
    ):
        got, problem = await call(http, earner, "GET", f"/earners/{earner_id}/badges")
        assert (got, problem["code"]) == (status, code), earner_id
    home = node_network.write_cli_home(earner)
    ran = await asyncio.to_thread(
        CliRunner().invoke, main, ["--home", str(home), "earner-badges", f"urn:bns:{uid}"]
    )
    assert ran.exit_code != 0 and "earner_not_persona" in ran.output, ran.output


@pytest.mark.slow
async def test_a_did_web_earner_lists_what_its_documents_key_signed(
    node_network: NodeNetwork,
    http: aiohttp.ClientSession,
    domain: Domain,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """example.org's document (over HTTPS, the test CA through BADGECHAIN_TLS_CA_FILE) lists
    the earner node's key: its index is did:web:example.org's."""
    issuer = await node_network.add()
    earner = await node_network.add(did_web="did:web:example.org")
    reader = await node_network.add()
    domain.routes["/"] = earner
    badge = await issued_and_accepted(node_network, http, issuer, earner)
    uid = uid_text(credential_uid(badge))

    page = await _listed(http, reader, "did:web:example.org")
    assert page["key"] == earner.did
    assert [item["uid"] for item in page["items"]] == [uid]
    assert "/.well-known/did.json" in domain.asked
    stranger = KeyPair.generate()  # the same list asked by did:key, as before
    assert (await _listed(http, reader, earner.did))["items"] == page["items"]
    assert (await _listed(http, reader, stranger.did))["items"] == []

    got, problem = await call(http, reader, "GET", "/earners/did:web:example.org:nobody/badges")
    assert (got, problem["code"]) == (404, "earner_unknown")

    # Without the test CA the certificate is refused: no key, never a guess.
    monkeypatch.delenv(TLS_CA_FILE_ENV)
    got, problem = await call(http, reader, "GET", "/earners/did:web:example.org:school/badges")
    assert (got, problem["code"]) == (502, "earner_did_web_unreachable"), problem


@pytest.mark.slow
async def test_reject_and_hide_keep_a_badge_out_of_the_index_another_node_reads(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """Issue 14 item 4: a rejected badge never enters the earner's index, and hide takes an
    accepted one out with a withdrawal the same key signed; a third node reads both, by the
    persona and by the key."""
    issuer, earner, reader = await node_network.start(3)
    persona = await new_persona(node_network, http, earner)
    urn, genesis = persona["urn"], persona["uid"]
    kept = await _issue_to(node_network, http, issuer, urn)
    refused = await _issue_to(node_network, http, issuer, urn)
    for uid in (kept, refused):
        await arrives(node_network, http, earner, uid)
    await admin(node_network, http, earner, "POST", "/admin/accept", {"uid": kept})
    await admin(node_network, http, earner, "POST", "/admin/reject", {"uid": refused})
    for earner_id in (urn, earner.did):
        assert _uids(await _listed(http, reader, earner_id)) == {genesis, kept}, earner_id

    await admin(node_network, http, earner, "POST", "/admin/hide", {"uid": kept})
    for earner_id in (urn, earner.did):
        assert _uids(await _listed(http, reader, earner_id)) == {genesis}, earner_id
    pages = [await reader.names.earner_page(earner.key.public_key, n) for n in range(2)]
    withdrawn = [(page, item) for page in pages for item in page.items if item.withdrawn]
    assert [uid_text(item.uid) for _, item in withdrawn] == [kept]
    for page, item in withdrawn:  # the withdrawal is the earner key's own
        signed = earner_item_signed_bytes(page.earner_key, page.page, item.uid, *item.version)
        assert verify_signature(earner.key.public_key, signed, item.signature)
