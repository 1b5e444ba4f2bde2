"""A node that comes back on another gateway URL moves its personas' locations too (issue 16
item 2): a persona's genesis badge is served by its node's gateway, like an accepted badge,
and every badge issued to `urn:bns:<persona>` is verified through it."""

from __future__ import annotations

import pytest

from badgechain.chain.uid import uid_text
from badgechain.node import personas
from badgechain.node.relocation import follow_gateway_url
from tests.node.conftest import NodeNetwork

pytestmark = pytest.mark.slow


async def test_a_moved_node_republishes_its_personas_locations(
    node_network: NodeNetwork,
) -> None:
    issuer, earner, _ = await node_network.start(3)  # a third keeps the DHT answering
    persona = await personas.create_persona(earner, name="Ada at work")
    assert await follow_gateway_url(earner) == 0  # the first start notes its URL
    old = earner.gateway_url

    earner = await node_network.restart(earner)  # http_port 0: another port
    assert earner.gateway_url != old
    assert await follow_gateway_url(earner) == 1
    record = await issuer.names.resolve(persona.uid)
    assert record.location is not None
    new_url = f"{earner.gateway_url}/badges/{uid_text(persona.uid)}.json"
    assert list(record.location.urls) == [new_url]
    listed = {held.uid: held for held in personas.list_personas(earner)}
    assert listed[persona.uid].state == "accepted"
    assert await follow_gateway_url(earner) == 0  # once moved, nothing more to do
