"""Every route answers as its declaration (node/openapi.py) says: an admin route refuses
a call without the token (401), a public one never asks for it."""

from __future__ import annotations

import re

import aiohttp

from badgechain.chain.keys import KeyPair
from badgechain.node.openapi import OPERATIONS
from tests.node.conftest import NodeNetwork

SAMPLES = {  # a well-formed value for each path parameter
    "uid": "z" + "1" * 87,
    "did": KeyPair.generate().did,
    "id": KeyPair.generate().did,
    "class_id": "nope",
    "batch_id": "nope",
    "list_id": "A" * 12,
    "name": "index.html",
    "item_id": "publish:00",
}


def _path(path: str) -> str:
    filled = re.sub(r"\{(\w+)\}", lambda match: SAMPLES[match.group(1)], path)
    return filled.replace(SAMPLES["id"], "A" * 22) if path.startswith("/collections/") else filled


async def test_admin_routes_need_the_token_and_public_ones_do_not(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    assert any(operation.admin for operation in OPERATIONS)
    for operation in OPERATIONS:
        url = node.gateway_url + _path(operation.path)
        async with http.request(operation.method, url, json={}) as response:
            refused = response.status == 401
        assert refused == operation.admin, (operation.method, operation.path, response.status)
        if operation.admin:
            async with http.request(
                operation.method, url, json={}, headers=node_network.admin
            ) as response:
                assert response.status != 401, (operation.method, operation.path)
