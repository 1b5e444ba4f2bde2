"""The BNS DHT (bns/dht.py) on 127.0.0.1: what storing nodes keep, what fetches believe, and
how nodes behave under forged and stale values, hostile peers, garbage, churn and restarts.

Checks on storing nodes send raw STOREs to the closest nodes, past the writer's own check,
and look at every node's copy. Every test stops what it started (the `start_network`
fixture) and fails when any exception reaches the event loop (`loop_errors`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information
import pytest

from badgechain.bns.dht import (
    ID_BYTES,
    MAX_DATAGRAM_BYTES,
    Contact,
    DhtNode,
    FetchResult,
    StoreResult,
    node_id_of,
    solve_id_puzzle,
)
from badgechain.bns.errors import RecordError
from badgechain.bns.record import (
    Entry,
    Location,
    Record,
    derive_dht_key,
    make_entry,
    make_location,
    make_revocation,
    merge,
)
from badgechain.bns.values import address_of_key
from badgechain.chain.keys import KeyPair
from badgechain.chain.resolve import Unreachable
from badgechain.storage import Kind, LevelStore
from tests.bns.network import TEST_ID_DIFFICULTY, TEST_SETTINGS, Network, make_badge_entry

ISSUER = KeyPair.from_seed(bytes(range(32)))
EARNER = KeyPair.from_seed(bytes(range(1, 33)))
STRANGER = KeyPair.from_seed(bytes(range(2, 34)))
STRANGER_NONCE = solve_id_puzzle(STRANGER.public_key, TEST_ID_DIFFICULTY)
POLL_S = 0.01
PUBLISH_CONCURRENCY = 10  # one event loop runs every node: keep bursts bounded

# No hedging and a long timeout, for tests that check every replica: on a busy machine a
# hedged lookup may finish without a slow node, and the write would then skip it.
CALM = replace(TEST_SETTINGS, rpc_timeout=2.0, min_hedge=2.0)

StartNetwork = Callable[..., Awaitable[Network]]


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Every exception that reaches the event loop during the test; there must be none."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield errors
    finally:
        loop.set_exception_handler(previous)
    assert not errors, errors


@pytest.fixture
async def start_network(loop_errors: list[dict[str, Any]]) -> AsyncIterator[StartNetwork]:
    """Start networks of `count` nodes; every node is stopped when the test ends."""
    started: list[Network] = []

    async def start(count: int, **options: Any) -> Network:
        network = Network(**options)
        started.append(network)
        await network.start(count)
        return network

    try:
        yield start
    finally:
        for network in started:
            await network.stop()


def address_of(entry: Entry) -> bytes:
    return address_of_key(derive_dht_key(entry.uid))


def wire(entry: Entry, location: Location | None = None, revocation: Any = None) -> bytes:
    return Record(entry, location, revocation).to_wire_bytes()


def located(entry: Entry, seq: int, url: str = "https://badges.example/b") -> Location:
    return make_location(EARNER, entry.uid, (url,), seq)


async def publish_all(writes: Iterable[tuple[DhtNode, bytes]]) -> list[StoreResult]:
    gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def one(node: DhtNode, value: bytes) -> StoreResult:
        async with gate:
            return await node.store_value(value)

    return list(await asyncio.gather(*(one(node, value) for node, value in writes)))


async def store_raw(node: DhtNode, address: bytes, value: bytes) -> list[Any]:
    """STORE `value` on the closest nodes as a hostile writer would: no writer-side check."""
    closest = await node.find_closest(address)
    assert closest, "the writer knows no node"
    answers = await asyncio.gather(
        *(node.protocol.request(c, "store", address, value) for c in closest)
    )
    assert all(ok for ok, _ in answers), "a storing node did not answer"
    return [reply for _, reply in answers]


async def fetch_record(node: DhtNode, address: bytes) -> Record:
    result = await node.fetch(address)
    assert result.value is not None, result
    return Record.from_wire_bytes(result.value)


def held_everywhere(net: Network, address: bytes) -> list[bytes | None]:
    return [node.held(address) for node in net.live]


async def eventually(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


def shared_prefix_bits(a: bytes, b: bytes) -> int:
    return ID_BYTES * 8 - (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


def contact_of(node: DhtNode) -> Contact:
    return Contact(node.me.public_key, *node.address, node.me.nonce)


def id_of_key(key: KeyPair) -> bytes:
    """The DHT id a test node with `key` gets (it solves its id puzzle from nonce 0)."""
    return node_id_of(key.public_key, solve_id_puzzle(key.public_key, TEST_ID_DIFFICULTY))


# --- 1. locations ----------------------------------------------------------------------------


async def test_location_set_moved_forged_and_replayed(start_network: StartNetwork) -> None:
    net = await start_network(20, settings=CALM)
    entry = make_badge_entry(ISSUER, EARNER)
    address = address_of(entry)
    first, moved = (
        located(entry, 1, "https://a.example/1"),
        located(entry, 2, "https://b.example/2"),
    )
    readers = [net.nodes[i] for i in (3, 9, 17)]

    assert (await net.nodes[0].store_value(wire(entry, first))).accepted > 0
    for reader in readers:
        assert (await fetch_record(reader, address)).location == first

    assert (await net.nodes[5].store_value(wire(entry, moved))).accepted > 0
    for reader in readers:
        assert (await fetch_record(reader, address)).location == moved

    forged = wire(entry, make_location(STRANGER, entry.uid, ("https://evil.example/",), 9))
    replies = await store_raw(net.nodes[11], address, forged)
    assert replies == ["location_signature_invalid"] * len(replies) and len(replies) == 19
    assert held_everywhere(net, address) == [wire(entry, moved)] * 20
    with pytest.raises(RecordError) as refused:
        await net.nodes[11].store_value(forged)  # the writer checks before sending
    assert refused.value.code == "location_signature_invalid"

    current = wire(entry, moved)
    replies = await store_raw(net.nodes[13], address, wire(entry, first))
    assert replies == ["stale"] * len(replies) and len(replies) == 19
    assert held_everywhere(net, address) == [current] * 20
    for reader in readers:
        assert (await fetch_record(reader, address)).location == moved


# --- 2. revocations --------------------------------------------------------------------------


async def test_revocation_is_seen_and_cannot_be_undone(start_network: StartNetwork) -> None:
    net = await start_network(20, settings=CALM)
    entry = make_badge_entry(ISSUER, EARNER)
    address, where = address_of(entry), located(entry, 1)
    await net.nodes[0].store_value(wire(entry, where))
    revocation = make_revocation(ISSUER, entry.uid, "issued in error", 1_700_000_000)

    result = await net.nodes[7].store_value(wire(entry, None, revocation))
    assert result.accepted > 0 and not result.refused
    for reader in (net.nodes[i] for i in (2, 11, 16, 19)):
        record = await fetch_record(reader, address)
        assert record.revocation == revocation and record.location == where

    revoked = wire(entry, where, revocation)
    replies = await store_raw(net.nodes[4], address, wire(entry, where))
    assert replies == ["stale"] * len(replies) and len(replies) == 19
    assert held_everywhere(net, address) == [revoked] * 20


async def test_revocation_not_signed_by_the_issuer_is_refused(
    start_network: StartNetwork,
) -> None:
    net = await start_network(15, settings=CALM)
    entry = make_badge_entry(ISSUER, EARNER)
    address, unrevoked = address_of(entry), wire(entry, located(entry, 1))
    await net.nodes[0].store_value(unrevoked)
    for signer in (EARNER, STRANGER):
        forged = make_revocation(signer, entry.uid, "not yours to revoke", 5)
        replies = await store_raw(net.nodes[3], address, wire(entry, None, forged))
        assert replies == ["revocation_signature_invalid"] * len(replies) and replies
        assert held_everywhere(net, address) == [unrevoked] * 15
    assert (await fetch_record(net.nodes[9], address)).revocation is None


# --- 3. UIDs ---------------------------------------------------------------------------------


async def test_entry_claiming_anothers_uid_is_refused(start_network: StartNetwork) -> None:
    net = await start_network(15, settings=CALM)
    alices = make_badge_entry(ISSUER, EARNER)
    # Mallory signs an entry for Alice's UID with his own key: valid signature, stolen UID.
    mallorys = make_entry(STRANGER, alices.uid, alices.signing_input, STRANGER.public_key, 1)
    address, stolen = address_of(alices), wire(mallorys)

    writer = net.nodes[6]
    sent_before = writer.stats["rpcs_sent"]
    with pytest.raises(RecordError) as refused:
        await writer.store_value(stolen)
    assert refused.value.code == "uid_not_issuer_signature"
    assert writer.stats["rpcs_sent"] == sent_before  # refused before anything was sent

    replies = await store_raw(writer, address, stolen)
    assert replies == ["uid_not_issuer_signature"] * len(replies) and len(replies) == 14
    assert held_everywhere(net, address) == [None] * 15

    await net.nodes[0].store_value(wire(alices))  # and once Alice's entry is held
    replies = await store_raw(writer, address, stolen)
    assert replies == ["uid_not_issuer_signature"] * len(replies) and len(replies) == 14
    assert held_everywhere(net, address) == [wire(alices)] * 15


# --- 4. hostile nodes ------------------------------------------------------------------------


async def test_hostile_answers_do_not_change_what_fetch_returns(
    start_network: StartNetwork,
) -> None:
    # No hedging: every hostile node among the closest is waited for, so `dropped` is exact.
    net = await start_network(20, settings=CALM)
    entry = make_badge_entry(ISSUER, EARNER)
    address = address_of(entry)
    older, newest = located(entry, 1), located(entry, 2, "https://new.example/")
    revocation = make_revocation(ISSUER, entry.uid, "revoked", 10)
    current = wire(entry, newest, revocation)
    await publish_all([(net.nodes[0], wire(entry, older)), (net.nodes[1], current)])
    assert held_everywhere(net, address) == [current] * 20

    # The four nodes nearest the address turn hostile: the strongest position they can hold.
    forgers_and_liars = net.closest_live(address, 4)
    answers = [
        wire(entry, make_location(STRANGER, entry.uid, ("https://evil.example/",), 99)),
        wire(entry, newest, make_revocation(STRANGER, entry.uid, "forged", 1)),
        wire(entry, older),  # stale: before the move and the revocation
        wire(entry, newest),  # stale: before the revocation
    ]
    asked: list[list[bytes]] = [[] for _ in answers]
    for hostile, answer, log in zip(forgers_and_liars, answers, asked, strict=True):

        def lie(sender: Contact, _address: Any, answer: bytes = answer, log: Any = log) -> Any:
            log.append(sender.public_key)
            return {"value": answer}

        hostile.protocol._handlers["find_value"] = lie

    honest = [n for n in net.live if n not in forgers_and_liars]
    for reader in honest[:6]:
        assert reader.contact_count() == 19  # it knows every hostile node
        result: FetchResult = await reader.fetch(address)
        assert result.value == current
        assert result.dropped == 2  # exactly the two forged answers
        assert result.holders == result.answered - result.dropped
        assert all(reader.me.public_key in log for log in asked)


@pytest.mark.parametrize("behaviour", ["stale", "drop"])
async def test_disjoint_paths_read_past_liars_nearest_the_address(
    start_network: StartNetwork, behaviour: str
) -> None:
    """The five nodes nearest the address (a whole read quorum) collude: they serve the record
    from before its revocation, or drop it and name only each other. One lookup asks just them;
    a second, disjoint path asks none of them and reaches honest replicas."""
    net = await start_network(16, settings=CALM)  # no hedging: every liar is waited for
    entry = make_badge_entry(ISSUER, EARNER)
    address = address_of(entry)
    stale = wire(entry, located(entry, 1))
    current = wire(entry, located(entry, 1), make_revocation(ISSUER, entry.uid, "revoked", 10))
    await publish_all([(net.nodes[0], stale)])
    await publish_all([(net.nodes[0], current)])
    gang = net.closest_live(address, CALM.read_quorum)
    named = [contact_of(n).to_wire() for n in gang]

    def lie(sender: Contact, _address: Any) -> Any:
        return {"value": stale} if behaviour == "stale" else named

    for hostile in gang:
        hostile.protocol._handlers["find_value"] = lie
    reader = next(n for n in net.live[1:] if n not in gang)  # not the writer either
    reader.store.delete(Kind.BNS_RECORD, address)  # its own copy would answer for it
    assert reader.contact_count() == 15  # it knows the gang: they are its nearest choices
    alone = await reader.fetch(address, paths=1)
    assert alone.value == (stale if behaviour == "stale" else None)  # the attack works...
    result = await reader.fetch(address, paths=2)
    assert result.value == current  # ...and a second path defeats it
    assert result.answered >= 2 * CALM.read_quorum


# --- 5. garbage ------------------------------------------------------------------------------


def _raw_socket() -> socket.socket:
    """A bare UDP socket: asyncio's transports refuse to send an empty datagram."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.bind(("127.0.0.1", 0))
    raw.setblocking(False)
    return raw


def _nothing_received(raw: socket.socket) -> bool:
    try:
        raw.recv(65536)
    except BlockingIOError:
        return True
    return False


def _request(message: Any, msg_id: bytes = b"\x07" * 20) -> bytes:
    return b"\x02" + msg_id + bytes(msgpack.packb(message, use_bin_type=True))


def _garbage(key: bytes, address: bytes) -> list[bytes]:
    rng = random.Random(5)
    nonce = solve_id_puzzle(key, TEST_ID_DIFFICULTY)
    pk = [key, nonce]  # the sender, as wire version 2 carries it
    unsolved = next(n for n in (i.to_bytes(8, "big") for i in range(99)) if n != nonce)
    ping = _request(["ping", [pk]])
    deep = b"\x91" * 2000 + b"\x90"  # arrays nested deeper than msgpack unpacks
    nested = b"\x91" * 100 + b"\x90"  # unpacks, but is no request
    shapes: list[Any] = [
        {"ping": [pk]},
        "ping",
        ["ping"],
        ["ping", "args"],
        ["ping", []],
        [b"ping", [pk]],
        [7, [pk]],
        ["nosuch", [pk]],
        ["_rpc_ping", [pk]],
        ["__init__", [pk]],
        ["ping", [[key[:31], nonce]]],
        ["ping", [[key + b"\x00", nonce]]],
        ["ping", [[key, nonce[:7]]]],
        ["ping", [[key, unsolved]]],  # the id puzzle is not solved
        ["ping", [key]],  # version 1's sender, inside a version 2 datagram
        ["ping", [[key, nonce, b"x"]]],
        ["ping", [12345]],
        ["ping", [None]],
        ["ping", [pk, b"extra"]],
        ["ping", [pk], "padding must be bytes"],
        ["ping", [pk], b"", b"one field too many"],
        ["store", [pk]],
        ["store", [pk, address]],
        ["store", [pk, address, b"v", b"w"]],
        ["find_node", [pk, 2**64 - 1]],
        ["find_node", [pk, -(2**63)]],
        ["find_node", [pk, "an address"]],
        ["find_node", [pk, address[:19]]],
        ["find_value", [pk, None]],
        ["find_value", [pk, [[[[[address]]]]]]],
        ["find_value", [pk, {"k": address}]],
        ["find_value", [pk, 1.5]],
        [msgpack.ExtType(3, b"x"), [pk]],
    ]
    return [
        b"",
        b"\x02",
        b"\x03",
        b"\x04" + bytes(40),
        b"\xff" * 30,
        b"\x00" + ping[1:],  # a well-formed ping of wire version 1
        b"\x00" + b"\x07" * 20 + bytes(msgpack.packb(["ping", [key]])),
        bytes(rng.randrange(256) for _ in range(200)),
        b"\x02" + bytes(rng.randrange(256) for _ in range(300)),
        b"\x02" + bytes(MAX_DATAGRAM_BYTES),  # one byte over
        _request(["store", [pk, address, bytes(1500)]]),  # oversized as a whole
        ping[:21],  # the header alone
        ping[:22],
        ping[:-1],
        ping[:-10],
        b"\x02" + b"\x07" * 20 + deep,
        b"\x02" + b"\x07" * 20 + nested,
        b"\x02" + b"\x07" * 20 + b"\x92\xa4ping\x91\x92\xc4\x20" + key[:8],  # bin cut short
        b"\x02" + b"\x07" * 20 + b"\x92\xa4p\xffng\x91" + msgpack.packb(pk),  # bad UTF-8
        b"\x02" + b"\x07" * 20 + b"\x81\x01\x02",  # a map with an integer key
        b"\x02" + b"\x07" * 20 + b"\xc1",  # a byte msgpack never uses
        b"\x03" + os.urandom(20) + msgpack.packb("pong"),  # a reply nobody asked for
        b"\x03" + os.urandom(20) + msgpack.packb({"value": b"x"}),
        *(_request(shape) for shape in shapes),
    ]


async def test_garbage_datagrams_are_dropped_and_counted(start_network: StartNetwork) -> None:
    net = await start_network(6)
    target, other = net.nodes[1], net.nodes[4]
    entry = make_badge_entry(ISSUER, EARNER)
    address = address_of(entry)
    await other.store_value(wire(entry))
    raw = _raw_socket()
    try:
        garbage = _garbage(STRANGER.public_key, address)
        for datagram in garbage:
            before = target.stats["datagrams_dropped"]
            raw.sendto(datagram, target.address)
            counted = await eventually(lambda: target.stats["datagrams_dropped"] > before, 2)  # noqa: B023
            assert counted, f"not counted as dropped: {datagram[:40]!r}"
        assert _nothing_received(raw)  # nothing was answered

        ok, reply = await other.protocol.request(contact_of(target), "ping")
        assert (ok, reply) == (True, [target.me.public_key, target.me.nonce])
        assert (await other.fetch(address)).value == wire(entry)
        assert (await target.fetch(address)).value == wire(entry)
        assert target.stats["datagrams_dropped"] >= len(garbage)
    finally:
        raw.close()


async def test_store_of_garbage_value_gets_an_error_code(start_network: StartNetwork) -> None:
    net = await start_network(4)
    target = net.nodes[2]
    entry = make_badge_entry(ISSUER, EARNER)
    address, good = address_of(entry), wire(entry)
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x40
    elsewhere = wire(make_badge_entry(ISSUER, EARNER))
    values: list[Any] = [
        os.urandom(100),
        b"",
        b"\xc1",
        msgpack.packb([1, 2, 3, 4]),
        msgpack.packb([1, [1] * 8, None, None]),
        msgpack.packb([2, [], None, None]),
        msgpack.packb({"entry": good}),
        msgpack.packb("a record"),
        bytes(flipped),
        good + b"\x00",  # trailing bytes
        elsewhere,  # valid, but it lives at another address
        bytes(1201),
        "text, not bytes",
        12,
        None,
    ]
    loop = asyncio.get_running_loop()
    codes: list[Any] = []
    raw = _raw_socket()
    try:
        for index, value in enumerate(values):
            msg_id = index.to_bytes(20, "big")
            sender = [STRANGER.public_key, STRANGER_NONCE]
            request = _request(["store", [sender, address, value]], msg_id)
            raw.sendto(request, target.address)
            reply = await asyncio.wait_for(loop.sock_recv(raw, 65536), timeout=2)
            while reply[:1] == b"\x02":  # the node checks the stranger's address with a ping
                reply = await asyncio.wait_for(loop.sock_recv(raw, 65536), timeout=2)
            assert reply[:21] == b"\x03" + msg_id
            codes.append(msgpack.unpackb(reply[21:], raw=False))
        ok, _ = await net.nodes[0].protocol.request(contact_of(target), "ping")
        assert ok
    finally:
        raw.close()
    assert all(isinstance(code, str) and code not in ("ok", "stale") for code in codes), codes
    assert codes[values.index(elsewhere)] == "address_mismatch"
    assert codes[values.index(bytes(1201))] == "value_too_large"
    assert held_everywhere(net, address) == [None] * 4


# --- 6. hand-over ----------------------------------------------------------------------------


def record_senders(node: DhtNode, method: str, senders: set[bytes]) -> None:
    """Note the public key of whoever sends `node` a `method` request; answer as before."""
    handler = node.protocol._handlers[method]

    def noting(sender: Contact, *args: Any) -> Any:
        senders.add(sender.public_key)
        return handler(sender, *args)

    node.protocol._handlers[method] = noting


def entry_near(node_id: bytes, bits: int) -> Entry:
    """A fresh badge entry whose address shares `bits` leading bits with `node_id`."""
    entry = make_badge_entry(ISSUER, EARNER)
    while shared_prefix_bits(address_of(entry), node_id) < bits:
        entry = make_badge_entry(ISSUER, EARNER)
    return entry


async def test_newcomer_near_values_receives_them_from_the_replicas(
    start_network: StartNetwork,
) -> None:
    # Five replicas, so the hand-over decision matters: a newcomer that is no nearer than a
    # replica's fifth-nearest contact is not sent the value.
    # Every replica may hand over here (`hand_over_senders` = k); test_sim checks the limit.
    net = await start_network(20, settings=replace(CALM, ksize=5, hand_over_senders=5))
    first = make_badge_entry(ISSUER, EARNER)
    key = KeyPair.generate()
    while shared_prefix_bits(id_of_key(key), address_of(first)) < 8:
        key = KeyPair.generate()
    # More values near the newcomer: a wrong distance (kademlia hashes the address again)
    # then misses one of them with near certainty, not with one chance in two.
    entries = [first, *(entry_near(id_of_key(key), 8) for _ in range(5))]
    await publish_all((net.nodes[i], wire(e)) for i, e in enumerate(entries))
    # The replicas owed a hand-over: those among the k nearest live nodes. A publisher that
    # keeps its own copy from farther away is a replica too, but no nearer node than the
    # newcomer's k-th, so it rightly stays silent (bns/replica.hands_over).
    replicas = {
        address_of(e): {
            n.me.public_key for n in net.closest_live(address_of(e), 5) if n.held(address_of(e))
        }
        for e in entries
    }

    newcomer = await net.start_node(len(net.nodes), key=key)
    senders = {address: set[bytes]() for address in replicas}
    handler = newcomer.protocol._handlers["store"]

    def store(sender: Contact, address: Any, value: Any) -> Any:
        senders.get(address, set()).add(sender.public_key)
        return handler(sender, address, value)

    newcomer.protocol._handlers["store"] = store
    met: dict[bytes, set[bytes]] = {n.me.public_key: set() for n in net.live}
    for node in net.live:
        for method in ("ping", "find_node", "find_value", "store"):
            record_senders(node, method, met[node.me.public_key])

    await newcomer.bootstrap([net.nodes[0].address])
    assert await eventually(lambda: newcomer.held(address_of(first)) == wire(first), 5)
    for entry in entries[1:]:
        await newcomer.find_closest(address_of(entry))  # as its bucket refresh would
    for entry in entries:
        address = address_of(entry)
        assert newcomer in net.closest_live(address, 5)
        # Every replica the newcomer met sent it the value (Kademlia's hand-over), unasked:
        # the newcomer did not fetch, and republishing is hourly.
        for _ in range(5):  # on a loaded machine a lookup may end before it reaches them all
            met_it = {r for r in replicas[address] if newcomer.me.public_key in met[r]}
            if met_it:
                break
            await newcomer.find_closest(address)
        assert met_it, (entries.index(entry), len(replicas[address]))
        sent = await eventually(lambda: met_it <= senders[address], 5)  # noqa: B023
        assert sent, (entries.index(entry), len(met_it), len(senders[address]))
        assert newcomer.held(address) == wire(entry)
    assert newcomer.stats["fetches"] == 0


async def test_a_join_finds_contacts_in_every_slice_farther_than_its_nearest(
    start_network: StartNetwork,
) -> None:
    """Kademlia's join: after the lookup of its own id, a newcomer looks up an id in each
    slice of the id space farther than its nearest contact, so with small buckets it still
    knows someone in each slice where nodes live (and they have heard of it)."""
    small = replace(TEST_SETTINGS, ksize=4, join_refreshes=8)
    net = await start_network(40, settings=small)
    newcomer = await net.start_node(40)
    await newcomer.bootstrap([net.nodes[0].address])
    me = newcomer.me.id
    nearest = max(shared_prefix_bits(me, n.me.id) for n in net.live if n is not newcomer)
    for prefix in range(max(nearest - small.join_refreshes, 0), nearest):
        living = {n.me.id for n in net.live if shared_prefix_bits(me, n.me.id) == prefix}
        known = {c.id for c in newcomer.contacts() if shared_prefix_bits(me, c.id) == prefix}
        assert known or not living, prefix


# --- 8. failures -----------------------------------------------------------------------------


async def test_lonely_node_is_unreachable(start_network: StartNetwork) -> None:
    net = await start_network(1)
    entry = make_badge_entry(ISSUER, EARNER)
    with pytest.raises(Unreachable) as failure:
        await net.nodes[0].store_value(wire(entry))
    assert failure.value.code == "dht_unreachable"
    with pytest.raises(Unreachable) as failure:
        await net.nodes[0].fetch(address_of(entry))
    assert failure.value.code == "dht_unreachable"


async def test_node_whose_contacts_are_stopped_is_unreachable(
    start_network: StartNetwork,
) -> None:
    net = await start_network(2)
    entry = make_badge_entry(ISSUER, EARNER)
    await net.nodes[1].store_value(wire(entry))
    await net.stop_node(1)
    assert net.nodes[0].contact_count() == 1
    started = time.monotonic()
    with pytest.raises(Unreachable) as failure:
        await net.nodes[0].fetch(address_of(entry))
    assert failure.value.code == "dht_unreachable"
    assert time.monotonic() - started < 3 * TEST_SETTINGS.rpc_timeout


async def test_value_every_replica_refuses_is_counted(start_network: StartNetwork) -> None:
    net = await start_network(10, settings=CALM)
    entry = make_badge_entry(ISSUER, EARNER)
    await net.nodes[0].store_value(wire(entry))
    # The same UID, re-signed by its issuer with another date: valid alone, conflicting here.
    rival = make_entry(ISSUER, entry.uid, entry.signing_input, EARNER.public_key, 2)
    result = await net.nodes[5].store_value(wire(rival))
    assert result.accepted == 0 and result.unanswered == 0
    assert result.refused == {"entry_conflict": 9}
    assert held_everywhere(net, address_of(entry)) == [wire(entry)] * 10


async def test_a_stopped_node_fails_its_requests_cleanly(start_network: StartNetwork) -> None:
    net = await start_network(3)
    node = net.nodes[0]
    contact = node.contacts()[0]
    await node.stop()  # the store stays open: only the socket is gone
    await asyncio.sleep(0)  # the transport finishes closing
    assert await node.protocol.request(contact, "ping") == (False, None)
    with pytest.raises(Unreachable):
        await node.fetch(address_of(make_badge_entry(ISSUER, EARNER)))


# A stopped node's port answers with an ICMP port-unreachable (bns/node_io.py, Linux only):
# requests to it fail at once rather than after a hedge delay or the RPC timeout. The RPC
# timeout here is a minute, so a request ending within BOUND_S can only have ended on the
# refusal; `asyncio.timeout` only keeps a broken build from hanging.
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="IP_RECVERR is Linux's")
PATIENT = replace(TEST_SETTINGS, rpc_timeout=60.0, min_hedge=60.0)
BOUND_S = 10.0  # far below the RPC timeout and the hedge delay


@linux_only
async def test_a_request_to_a_stopped_node_fails_on_its_refusal(
    start_network: StartNetwork,
) -> None:
    net = await start_network(2, settings=PATIENT)
    asker, gone = net.nodes[0], contact_of(net.nodes[1])
    await net.stop_node(1)
    async with asyncio.timeout(BOUND_S):
        assert await asker.protocol.request(gone, "ping") == (False, None)
    assert asker.stats["rpcs_refused"] >= 1  # its liveness pings may be refused too
    assert asker.protocol.suspect(gone.id)  # a failure like a timeout: lookups skip it


@linux_only
async def test_a_fetch_past_stopped_replicas_does_not_wait_on_them(
    start_network: StartNetwork,
) -> None:
    net = await start_network(8, settings=PATIENT)
    entry = make_badge_entry(ISSUER, EARNER)
    await net.nodes[0].store_value(wire(entry))
    for index in range(1, 5):  # half the network, the asker's contacts among them
        await net.stop_node(index)
    async with asyncio.timeout(BOUND_S):
        result = await net.nodes[5].fetch(address_of(entry))
    assert result.value == wire(entry)
    assert net.nodes[5].stats["rpcs_refused"] >= 1


@linux_only
async def test_a_request_right_after_a_refused_datagram_still_goes_out(
    start_network: StartNetwork,
) -> None:
    """The kernel holds the refusal as the socket's pending error, which would fail the next
    send; the node reads it first, so the ping below is sent and answered."""
    net = await start_network(3, settings=PATIENT)
    node, peer = net.nodes[0], contact_of(net.nodes[1])
    gone = net.nodes[2].address
    await net.stop_node(2)
    transport = node.protocol.transport
    assert transport is not None
    for _ in range(5):
        transport.sendto(b"anyone there?", gone)  # on loopback the refusal comes back at once
        async with asyncio.timeout(BOUND_S):
            ok, _ = await node.protocol.request(peer, "ping")
        assert ok


def delay_sends(node: DhtNode, seconds: float) -> None:
    """Make every datagram `node` sends leave `seconds` late, as over a long link."""
    loop = asyncio.get_running_loop()
    transport = node.protocol.transport
    assert transport is not None
    send = transport.sendto

    def late(data: Any, addr: Any = None) -> None:
        loop.call_later(seconds, send, data, addr)

    transport.sendto = late  # type: ignore[method-assign]


async def test_fetch_waits_for_a_live_contact_slower_than_the_hedge(
    start_network: StartNetwork,
) -> None:
    net = await start_network(2)
    entry = make_badge_entry(ISSUER, EARNER)
    await net.nodes[1].store_value(wire(entry))
    delay_sends(net.nodes[1], TEST_SETTINGS.rpc_timeout / 4)  # slow, yet well in time
    assert (await net.nodes[0].fetch(address_of(entry))).value == wire(entry)


async def test_bootstrap_through_a_slow_seed_learns_the_network(
    start_network: StartNetwork,
) -> None:
    net = await start_network(6)
    seed = net.nodes[0]
    delay_sends(seed, TEST_SETTINGS.rpc_timeout / 4)
    newcomer = await net.start_node(6)
    assert await newcomer.bootstrap([seed.address]) == 6


async def test_a_datagram_claiming_a_known_key_does_not_move_its_contact(
    start_network: StartNetwork,
) -> None:
    net = await start_network(3)
    victim, target = net.nodes[1], net.nodes[2]
    loop = asyncio.get_running_loop()
    raw = _raw_socket()
    try:
        claim = [victim.me.public_key, victim.me.nonce]
        raw.sendto(_request(["ping", [claim]]), target.address)
        await asyncio.wait_for(loop.sock_recv(raw, 65536), timeout=2)  # answered
        routes = {c.address for c in target.contacts() if c.public_key == victim.me.public_key}
        assert routes == {victim.address}
    finally:
        raw.close()


# --- 9, 10. saved contacts and restarts ------------------------------------------------------


async def test_contacts_are_saved_as_msgpack_and_used_to_rejoin(
    start_network: StartNetwork, tmp_path: Path
) -> None:
    net = await start_network(8, settings=CALM, directory=tmp_path)
    entry = make_badge_entry(ISSUER, EARNER)
    await net.nodes[0].store_value(wire(entry))
    leaving = net.nodes[5]
    known = {c.public_key for c in leaving.contacts()}
    assert len(known) == 7
    await net.stop_node(5)

    store = LevelStore(str(tmp_path / "node5"))
    raw = store.get(Kind.JOURNAL, b"dht/contacts")
    store.close()
    assert raw is not None and not raw.startswith(b"\x80")  # pickle opens with 0x80
    saved = msgpack.unpackb(raw, raw=False)  # the whole buffer: ExtraData otherwise
    assert {c.public_key for c in map(Contact.from_wire, saved) if c is not None} == known

    back = await net.start_node(5)
    assert back.contact_count() == 0
    assert await back.bootstrap() == 7
    assert (await back.fetch(address_of(entry))).value == wire(entry)
    # The others learn its new port (at once, or once its old address stops answering).
    seed = net.nodes[0]
    moved = await eventually(lambda: back.address in {c.address for c in seed.contacts()}, 5)
    assert moved


async def test_values_survive_a_restart_from_leveldb(
    start_network: StartNetwork, tmp_path: Path
) -> None:
    net = await start_network(6, settings=CALM, directory=tmp_path)
    entries = [make_badge_entry(ISSUER, EARNER) for _ in range(5)]
    await publish_all((net.nodes[i % 6], wire(e, located(e, i))) for i, e in enumerate(entries))
    addresses = [address_of(e) for e in entries]
    held = [net.nodes[2].held(a) for a in addresses]
    assert held == [wire(e, located(e, i)) for i, e in enumerate(entries)]

    await net.stop_node(2)
    back = await net.start_node(2)
    assert back.me.public_key == net.keys[2].public_key
    assert [back.held(a) for a in addresses] == held
    for address, value in zip(addresses, held, strict=True):
        ok, reply = await net.nodes[4].protocol.request(contact_of(back), "find_value", address)
        assert (ok, reply) == (True, {"value": value})


# --- 11. convergence -------------------------------------------------------------------------


async def test_conflicting_writes_converge_after_republish(start_network: StartNetwork) -> None:
    net = await start_network(25, settings=CALM)
    entry = make_badge_entry(ISSUER, EARNER)
    address = address_of(entry)
    writes = [
        Record(entry),
        Record(entry, located(entry, 1)),
        Record(entry, located(entry, 4, "https://four.example/")),
        Record(entry, located(entry, 6, "https://six-a.example/")),
        Record(entry, located(entry, 6, "https://six-b.example/")),  # same seq, other URL
        Record(entry, located(entry, 3), make_revocation(ISSUER, entry.uid, "later", 90)),
        Record(entry, None, make_revocation(ISSUER, entry.uid, "first", 40)),
    ]
    writers = random.Random(11).sample(net.live, len(writes))
    await publish_all(zip(writers, (w.to_wire_bytes() for w in writes), strict=True))
    # A partial write that reached one node, outside the closest: only republishing spreads
    # it, and its revocation, the earliest, is the one the merge keeps.
    earliest = make_revocation(ISSUER, entry.uid, "earliest", 10)
    partial = Record(entry, located(entry, 2), earliest)
    outsider = next(n for n in net.live if n not in net.closest_live(address, 20))
    assert outsider.accept_store(address, partial.to_wire_bytes(), None) == "ok"
    writes.append(partial)

    gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def republish(node: DhtNode) -> int:
        async with gate:
            return await node.republish_once()

    holding = sum(n.held(address) is not None for n in net.live)
    # Nodes sent the value while the round runs may republish it too.
    assert sum(await asyncio.gather(*(republish(n) for n in net.live))) >= holding
    expected = functools.reduce(merge, writes)
    assert expected.revocation == earliest and expected.location in {
        w.location for w in writes[3:5]
    }
    closest = net.closest_live(address, 20)
    assert [n.held(address) for n in closest] == [expected.to_wire_bytes()] * 20
