"""POST /verify under concurrent load gives every request its own badge's verdict: 200 requests
at once, valid, forged and revoked badges mixed, in a thread of the node and in worker
processes (node/verifypool.py), twice, so the second round has the BNS answers looked up
ahead (node/verifyahead.py). Real nodes on 127.0.0.1: an issuer, an earner and a verifier."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from badgechain.chain.proof import sign_credential
from badgechain.chain.uid import Uid
from badgechain.node.badgestore import credential_uid
from badgechain.node.resolvers import node_context
from badgechain.node.verifyahead import answers_ahead, note_proven
from badgechain.node.verifypool import WORKERS_ENV
from tests.node.test_verify_online import TIMEOUT, Trio, _credential, _now, _publish, trio

__all__ = ["trio"]  # the fixture, shared with test_verify_online

CONCURRENT = 200


def _failed(report: dict[str, Any]) -> tuple[str, str] | None:
    failed = next((c for c in report["checks"] if c["status"] == "failed"), None)
    return None if failed is None else (failed["name"], failed["code"])


async def _badges(trio: Trio) -> list[tuple[bytes, str, tuple[str, str] | None]]:
    """Each badge's bytes, the verdict it must get and the check that must fail."""
    cases: list[tuple[bytes, str, tuple[str, str] | None]] = []
    for number in range(5):
        badge = sign_credential(
            _credential(trio.issuer.did, trio.earner.did), trio.issuer.key, created=_now()
        )
        await _publish(trio.issuer, trio.issuer.key, badge, None)
        if number < 2:
            uid = Uid(credential_uid(badge))
            await trio.issuer.names.revoke(trio.issuer.key, uid, "cheated", 1)
            cases.append((json.dumps(badge).encode(), "invalid", ("revocation", "revoked")))
        else:
            cases.append((json.dumps(badge).encode(), "valid", None))
        forged = json.loads(json.dumps(badge))
        forged["credentialSubject"]["achievement"]["name"] = f"Forged {number}"
        cases.append((json.dumps(forged).encode(), "invalid", ("proof", "signature_invalid")))
    return cases


async def _post(session: aiohttp.ClientSession, url: str, body: bytes) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    async with session.post(url, data=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


@pytest.mark.parametrize("workers", ["0", "2"])
async def test_concurrent_verifications_each_get_their_own_verdict(
    trio: Trio, workers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WORKERS_ENV, workers)
    cases = await _badges(trio)
    url = trio.verifier.gateway_url + "/verify"
    connector = aiohttp.TCPConnector(limit=CONCURRENT)
    async with aiohttp.ClientSession(timeout=TIMEOUT, connector=connector) as session:
        first = [await _post(session, url, data) for data, _, _ in cases]  # one at a time
        for (_, verdict, failed), report in zip(cases, first, strict=True):
            assert (report["verdict"], _failed(report)) == (verdict, failed), report
        for _ in range(2):
            asked = [cases[n % len(cases)] for n in range(CONCURRENT)]
            answers = await asyncio.gather(*(_post(session, url, data) for data, _, _ in asked))
            for (data, _, _), report in zip(asked, answers, strict=True):
                assert report == first[[c[0] for c in cases].index(data)]


async def test_only_a_uid_verified_here_is_looked_up_ahead(trio: Trio) -> None:
    badge = sign_credential(
        _credential(trio.issuer.did, trio.earner.did), trio.issuer.key, created=_now()
    )
    uid = await _publish(trio.issuer, trio.issuer.key, badge, None)
    data = json.dumps(badge).encode()
    context = node_context(trio.verifier)
    lists: list[tuple[str, Any]] = []
    assert ("bns", (uid,)) not in await answers_ahead(context, data, lambda *s: lists.append(s))
    note_proven(uid)
    answers = await answers_ahead(context, data, lambda *s: lists.append(s))
    view = answers[("bns", (uid,))]
    assert (view.uid, view.issuer_did, view.revoked) == (uid, trio.issuer.did, False)
    # A did:web anywhere in it: the BNS answer's name depends on a DID document read later.
    web = data.replace(b'"Mesh networking"', b'"did:web:example.org"')
    assert web != data and await answers_ahead(context, web, lambda *s: None) == {}
    linked = data.replace(b'"Mesh networking"', b'"urn:bns:zSomeBadge"')  # a chain to walk
    assert await answers_ahead(context, linked, lambda *s: None) == {}
    assert await answers_ahead(context, b"\x89PNG", lambda *s: None) == {}
