"""A batch holds its deliveries while it publishes and releases them at its end (node/batches.py):
every badge still reaches the earner's inbox, and a delivery already retrying keeps its wait."""

from __future__ import annotations

import aiohttp
import pytest

from badgechain.chain.multibase import multibase_decode
from badgechain.node import batches
from badgechain.node.app import RunningNode
from badgechain.node.services import DELIVER_TOPIC
from tests.node.conftest import NodeNetwork, eventually
from tests.node.test_issuer import admin, batch_done, make_class


async def inbox_count(network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode) -> int:
    status, answer = await admin(network, http, node, "GET", "/admin/inbox")
    assert status == 200
    return len(answer["badges"])


async def test_a_batchs_deliveries_all_arrive_once_it_is_out(
    node_network: NodeNetwork, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batches, "PUBLISH_CHUNK_ROWS", 4)  # three chunks, each held
    node, earner = await node_network.start(2)
    class_id = await make_class(node_network, http, node)
    body = {"class_id": class_id, "rows": [{"to": earner.did}] * 12}
    _, started = await admin(node_network, http, node, "POST", "/admin/batches", body)
    progress = await batch_done(node_network, http, node, started["batch_id"])
    assert progress["done"] == 12
    held = [node.queue.get(DELIVER_TOPIC, multibase_decode(uid)) for uid in progress["uids"]]
    now = node.clock().timestamp()
    assert all(item is None or item.due <= now for item in held)  # released, or delivered

    async def all_delivered() -> bool:
        return await inbox_count(node_network, http, earner) == 12

    await eventually(all_delivered, timeout=30)


async def test_the_release_leaves_a_retrying_delivery_its_wait(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node, _ = await node_network.start(2)
    class_id = await make_class(node_network, http, node)
    rows = [{"email": "a@example.org"}, {"email": "b@example.org"}]  # nothing to deliver
    _, started = await admin(
        node_network, http, node, "POST", "/admin/batches", {"class_id": class_id, "rows": rows}
    )
    progress = await batch_done(node_network, http, node, started["batch_id"])
    retrying, held = (multibase_decode(uid) for uid in progress["uids"])
    queue, now = node.queue, node.clock().timestamp()
    queue.put(DELIVER_TOPIC, retrying, now)
    queue.put(DELIVER_TOPIC, held, now + batches.DELIVERY_HOLD_S)
    tried = queue.get(DELIVER_TOPIC, retrying)
    assert tried is not None
    queue.failed(tried, "inbox_unknown: later", retry_at=now + 500)
    with node.store.batch() as batch:
        batches._release_deliveries(node, started["batch_id"], batch)
    kept, released = queue.get(DELIVER_TOPIC, retrying), queue.get(DELIVER_TOPIC, held)
    assert kept is not None and kept.due == now + 500
    assert released is not None and released.due <= node.clock().timestamp()
