"""Issue 10 §3: credentials issued by POST /credentials/issue (VC 1.1 and 2.0, both
cryptosuites, with and without a status entry) verify in @digitalbazaar/vc."""

from __future__ import annotations

import io
import json
from typing import Any

import aiohttp
import pytest

from badgechain.chain.keys import KeyPair
from tests.interop.jspeer import JsPeer
from tests.node.conftest import ADMIN_TOKEN, NodeNetwork, http, node_network

__all__ = ["http", "node_network"]  # the node fixtures, used here by name

pytestmark = pytest.mark.slow

CONTEXTS = {
    "vc2": "https://www.w3.org/ns/credentials/v2",
    "vc11": "https://www.w3.org/2018/credentials/v1",
}


async def _issue(
    http: aiohttp.ClientSession, url: str, context: str, options: dict[str, Any]
) -> dict[str, Any]:
    body = {
        "credential": {
            "@context": [context],
            "type": ["VerifiableCredential"],
            "credentialSubject": {"id": KeyPair.generate().did},
        },
        "options": options,
    }
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_TOKEN}"}
    data = io.BytesIO(json.dumps(body).encode())
    async with http.post(url + "/credentials/issue", data=data, headers=headers) as response:
        answer = await response.json()
        assert response.status == 201, answer
    credential: dict[str, Any] = answer["verifiableCredential"]
    return credential


async def test_issued_credentials_verify_in_digitalbazaar_vc(
    node_network: NodeNetwork, http: aiohttp.ClientSession, js_peer: JsPeer
) -> None:
    node = (await node_network.start(1))[0]
    failures = []
    for name, context in CONTEXTS.items():
        for suite in ("eddsa-rdfc-2022", "eddsa-jcs-2022"):
            for status in (False, True):
                options: dict[str, Any] = {"cryptosuite": suite}
                if status:
                    options["credentialStatus"] = {"type": "BitstringStatusListEntry"}
                credential = await _issue(http, node.gateway_url, context, options)
                verified, errors = js_peer.verify(credential)
                if not verified:
                    failures.append((name, suite, status, errors))
    assert not failures, failures
