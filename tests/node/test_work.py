"""The durable work queue (storage/queue.py) and its worker (node/work.py), driven by a
fake clock; and a home written before the queue, whose journal a start picks up."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import aiohttp

from badgechain.bns.inbox import make_inbox_record
from badgechain.chain.keys import KeyPair
from badgechain.chain.uid import Uid
from badgechain.node import classes, delivery, issuer, pipeline, revocation, work
from badgechain.node.app import RunningNode
from badgechain.node.badgestore import load_state
from badgechain.node.issuer import Recipient
from badgechain.node.pipeline import UNPUBLISHED_PREFIX, Issuance
from badgechain.storage import Kind, LevelStore, MemoryStore
from badgechain.storage.queue import WorkQueue
from tests.node.conftest import NodeNetwork, eventually
from tests.node.fakeclock import FakeClock

CLASS: dict[str, Any] = {"name": "Queued", "description": "Waited its turn", "criteria": "Patience"}


def test_the_queue_keeps_the_first_due_time_backs_off_and_dies() -> None:
    queue = WorkQueue(MemoryStore(), max_attempts=2)
    queue.put("publish", b"\x01", due=100.0)
    queue.put("publish", b"\x01", due=50.0)  # queued already: once is enough
    assert [item.due for item in queue.items()] == [100.0]
    assert queue.due(99.0, 10) == [] and queue.next_due() == 100.0
    (item,) = queue.due(100.0, 10)
    item = queue.failed(item, "x: first", retry_at=110.0)
    assert (item.attempts, item.dead, queue.due(105.0, 10)) == (1, False, [])
    item = queue.failed(queue.due(110.0, 10)[0], "x: second", retry_at=130.0)
    assert item.dead and queue.due(1000.0, 10) == [] and queue.next_due() is None
    assert queue.find(item.id) == item
    revived = queue.retry(item, now=200.0)
    assert (revived.dead, revived.attempts, queue.due(200.0, 10)) == (False, 0, [revived])
    queue.done(revived)
    assert queue.items() == [] and queue.find(item.id) is None


async def test_the_worker_runs_what_is_due_on_the_clock_it_is_given(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    node_network.settings = dataclasses.replace(node_network.settings, queue_max_attempts=2)
    (node,) = await node_network.start(1)
    clock = FakeClock()
    services = dataclasses.replace(node, clock=clock)
    for item in services.queue.items():  # the recurring reconcile: not this test's
        services.queue.done(item)
    # A publish item for a badge that is out already (no mark): done on its first run.
    services.enqueue("publish", bytes(64), delay_s=10)
    # A batch that does not exist: its handler fails, so it backs off and dies.
    services.enqueue("batch", b"no-such-batch", delay_s=10)
    assert await work.run_due(services) == 0
    clock.advance(10)
    assert await work.run_due(services) == 2
    (failing,) = [item for item in services.queue.items() if item.topic == "batch"]
    assert failing.attempts == 1 and failing.error.startswith("batch_not_found")
    assert await work.run_due(services) == 0  # backing off
    clock.advance(node.settings.queue_retry_first_s)
    assert await work.run_due(services) == 1
    (dead,) = [item for item in services.queue.items() if item.topic == "batch"]
    assert dead.dead
    clock.advance(10**6)
    assert await work.run_due(services) == 0  # the dead wait for the operator

    url = f"{node.gateway_url}/admin/queue"
    async with http.get(url, headers=node_network.admin) as response:
        listed = {item["id"]: item for item in (await response.json())["items"]}
    assert listed[dead.id]["dead"] is True
    async with http.get(url) as response:
        assert response.status == 401  # admin only
    async with http.delete(f"{url}/{dead.id}", headers=node_network.admin) as response:
        assert response.status == 200
    async with http.delete(f"{url}/{dead.id}", headers=node_network.admin) as response:
        assert response.status == 404
    assert services.queue.find(dead.id) is None


async def test_the_reconcile_comes_back_each_republish_interval_of_the_clock(
    node_network: NodeNetwork,
) -> None:
    """The recurring reconcile of the node's indexes: once done, it is queued again one
    republish interval later by the node's clock (a fake one here), and not before."""
    (node,) = await node_network.start(1)
    clock = FakeClock()
    services = dataclasses.replace(node, clock=clock)
    for item in services.queue.items():
        services.queue.done(item)
    interval = services.settings.dht.republish_interval
    services.enqueue("reconcile", work.RECONCILE_KEY)
    assert await work.run_due(services) == 1
    (again,) = services.queue.items()
    assert again.topic == "reconcile" and again.due == clock().timestamp() + interval
    clock.advance(interval - 1)
    assert await work.run_due(services) == 0
    clock.advance(1)
    assert await work.run_due(services) == 1
    assert [item.due for item in services.queue.items()] == [clock().timestamp() + interval]


async def test_a_delivery_that_hangs_holds_back_no_other_work(
    node_network: NodeNetwork,
) -> None:
    """The worker keeps several items in flight: while a delivery waits on an inbox that
    takes the connection and never answers, other queued work is done."""
    node_network.settings = dataclasses.replace(
        node_network.settings, delivery_attempt_timeout_s=60.0, delivery_post_timeout_s=60.0
    )
    node, _far = await node_network.start(2)
    connected = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        await reader.read()  # until the node gives up and closes
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        earner = KeyPair.generate()
        inbox = make_inbox_record(earner, f"http://127.0.0.1:{port}/inbox", 1)
        await node.dht.publish(inbox.to_wire_bytes())
        uid = Uid(bytes(range(64)))
        badge = {"id": "urn:uuid:hangs"}
        status = await delivery.enqueue_delivery(
            node, uid, badge, try_now=False, earner_key=earner.public_key
        )
        assert status == "queued"
        async with asyncio.timeout(20):
            await connected.wait()  # the worker is sending it, and will wait a minute
        node.enqueue("publish", bytes(64))  # a badge out already: done at its first run

        async def publish_done() -> bool:
            return node.queue.get("publish", bytes(64)) is None

        await eventually(publish_done, timeout=10)
        hanging = node.queue.get("deliver", uid)
        assert hanging is not None and hanging.attempts == 0  # still in its first attempt
    finally:
        await node.stop()  # cancels the attempt in flight
        server.close()
        await server.wait_closed()


async def test_a_home_written_before_the_queue_has_its_journal_worked_off(
    node_network: NodeNetwork,
) -> None:
    """The journal records the node wrote before the queue (an unpublished mark without
    the signing input, a revocation mark, a running batch) and no queue items: a start
    queues them and the worker does the work."""
    # Deliveries to the earners (who have no node) wait long: their DHT lookups would only
    # spend the far node's request budget for the restarted node's new, unproven address.
    node_network.settings = dataclasses.replace(
        node_network.settings, queue_retry_first_s=0.2, delivery_retry_first_s=60.0
    )
    node, _far = await node_network.start(2)
    record = classes.create_class(node, **CLASS)
    achievement = record.achievement
    assert achievement is not None
    earner = KeyPair.generate()
    issued = await issuer.issue_badge(node, str(record.id), Recipient(earner.did, None, None, ()))
    now = node.clock()
    unsent = pipeline.sign_and_store(
        node,
        Issuance(
            build=lambda entry: issuer.badge_credential(
                node.did, achievement, Recipient(earner.did, None, None, ()), now, entry
            ),
            state=issuer.issued_state(now, class_id=str(record.id)),
            earner_key=earner.public_key,
        ),
        now,
    )
    revocation.record_revocation(node, issued.uid, "issued in error")
    header = {"id": "old-batch", "class_id": str(record.id), "total": 1, "created": "x"}
    await node.stop()
    # Rewrite the home as the code before the queue left it.
    store = LevelStore(str(node.home / "db"))
    try:
        for key, _ in list(store.scan(Kind.QUEUE, b"")):
            store.delete(Kind.QUEUE, key)
        old_mark = {"created": int(now.timestamp()), "earner": earner.public_key.hex()}
        store.put(Kind.JOURNAL, UNPUBLISHED_PREFIX + unsent.uid, json.dumps(old_mark).encode())
        store.put(
            Kind.JOURNAL,
            b"issuer/batch/old-batch",
            json.dumps(header | {"state": "running"}).encode(),
        )
        row: dict[str, Any] = {
            "to": KeyPair.generate().did,
            "email": None,
            "valid_until": None,
            "evidence": [],
        }
        store.put(Kind.JOURNAL, b"issuer/batch-row/old-batch/" + bytes(4), json.dumps(row).encode())
    finally:
        store.close()

    again: RunningNode = await node_network.restart(node)

    async def worked_off() -> bool:
        # The earners have no node: their deliveries wait on; everything else is done.
        topics = {item.topic for item in again.queue.items()} - {"deliver"}
        marks = [again.store.get(Kind.JOURNAL, UNPUBLISHED_PREFIX + unsent.uid)]
        marks.append(again.store.get(Kind.JOURNAL, revocation.REVOKING_PREFIX + issued.uid))
        return topics == {"reconcile"} and marks == [None, None]

    await eventually(worked_off, timeout=20)
    resolved = await again.names.resolve(issued.uid)  # far holds the replicas
    assert resolved.revocation is not None
    assert (await again.names.resolve(unsent.uid)).entry.earner_key == earner.public_key
    batch = json.loads(again.store.get(Kind.JOURNAL, b"issuer/batch/old-batch") or b"{}")
    assert batch["state"] == "done"


async def test_a_delivery_backs_off_on_the_queue_with_the_clock_it_is_given(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """A delivery with no inbox to find fails, and is due again after 1 s, then 2 s, of
    the node's clock (a fake one here, ten days ahead of the node's own worker); the
    operator sees it in GET /admin/queue."""
    (node,) = await node_network.start(1)
    clock = FakeClock()
    services = dataclasses.replace(node, clock=clock)
    for item in services.queue.items():  # the recurring reconcile: not this test's
        services.queue.done(item)
    uid = Uid(bytes(range(64)))
    earner = KeyPair.generate().public_key
    status = await delivery.enqueue_delivery(
        services, uid, {"id": "urn:uuid:x"}, try_now=False, earner_key=earner
    )
    assert status == "queued"

    def attempts() -> int:
        item = services.queue.get("deliver", uid)
        assert item is not None
        return item.attempts

    first = services.settings.delivery_retry_first_s
    assert await work.run_due(services) == 1 and attempts() == 1
    assert await work.run_due(services) == 0
    clock.advance(first)
    assert await work.run_due(services) == 1 and attempts() == 2
    clock.advance(first)
    assert await work.run_due(services) == 0  # the backoff doubled
    clock.advance(first)
    assert await work.run_due(services) == 1 and attempts() == 3
    (entry,) = delivery.outbox(services.store)
    assert (entry.uid, entry.attempts, entry.earner_key) == (uid, 3, earner)
    assert entry.error and entry.due is not None  # why it failed, and when it is next tried
    async with http.get(f"{node.gateway_url}/admin/queue", headers=node_network.admin) as answer:
        (listed,) = (await answer.json())["items"]
    assert listed["id"] == f"deliver:{uid.hex()}" and listed["attempts"] == 3


async def test_an_outbox_written_before_the_queue_is_delivered(
    node_network: NodeNetwork,
) -> None:
    """A home whose outbox holds entries in the layout before the queue (a schedule under
    outbox/meta/): a start moves them onto the queue, with their attempts, and the worker
    delivers the pending one; the refused one stays dead, for the operator."""
    node_network.settings = dataclasses.replace(node_network.settings, delivery_retry_first_s=0.2)
    node, earner = await node_network.start(2)
    record = classes.create_class(node, **CLASS)
    achievement = record.achievement
    assert achievement is not None
    now = node.clock()

    def stored_badge(to: KeyPair) -> tuple[Uid, bytes]:
        signed = pipeline.sign_and_store(
            node,
            Issuance(
                build=lambda entry: issuer.badge_credential(
                    node.did, achievement, Recipient(to.did, None, None, ()), now, entry
                ),
                state=issuer.issued_state(now, class_id=str(record.id)),
                earner_key=to.public_key,
            ),
            now,
        )
        return signed.uid, node.store.get(Kind.BADGE, signed.uid) or b""

    pending, pending_doc = stored_badge(earner.key)
    refused, refused_doc = stored_badge(KeyPair.generate())
    await node.stop()
    store = LevelStore(str(node.home / "db"))
    try:
        old = {
            pending: {"due": 0.0, "attempts": 3, "error": "inbox_unreachable", "earner": None},
            refused: {"due": None, "attempts": 1, "error": "signature_invalid", "earner": None},
        }
        for uid, doc in ((pending, pending_doc), (refused, refused_doc)):
            store.put(Kind.JOURNAL, b"outbox/meta/" + uid, json.dumps(old[uid]).encode())
            store.put(Kind.JOURNAL, b"outbox/doc/" + uid, doc)
        # An entry of today's layout whose queue item the operator dropped: cleared.
        store.put(Kind.JOURNAL, b"outbox/doc/" + bytes(64), pending_doc)
        store.put(Kind.JOURNAL, b"outbox/to/" + bytes(64), bytes(earner.key.public_key))
    finally:
        store.close()

    again: RunningNode = await node_network.restart(node)
    assert again.store.get(Kind.JOURNAL, b"outbox/meta/" + pending) is None
    assert list(again.store.scan(Kind.JOURNAL, b"outbox/to/" + bytes(64))) == []
    assert again.store.get(Kind.JOURNAL, b"outbox/doc/" + bytes(64)) is None
    dead = again.queue.get("deliver", refused)
    assert dead is not None and dead.dead and dead.error == "signature_invalid"

    async def delivered() -> bool:
        # The outbox is cleared with the queue item's removal, written a tick later.
        state = load_state(earner.store, pending)
        waiting = [entry.uid for entry in delivery.outbox(again.store)]
        return (
            state is not None
            and again.queue.get("deliver", pending) is None
            and (waiting == [refused])
        )

    await eventually(delivered, timeout=20)
    assert [entry.uid for entry in delivery.outbox(again.store)] == [refused]
    assert load_state(earner.store, refused) is None
