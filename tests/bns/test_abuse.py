"""A hostile UDP source against storing nodes on 127.0.0.1 (issue 17 items 2, 3 and 6).

A bare socket plays the source, whose address UDP would let anyone forge: what it gets back
is at most three times what it sent, the keys it names enter no routing table until they
answer a ping, and few of them are even tried per minute. The pure parts (AddressGuard, the
id puzzle) are checked with explicit times and counts.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information
import pytest

from badgechain.bns.dht import DhtNode, DhtSettings, node_id_of, solve_id_puzzle
from badgechain.bns.guard import AddressGuard, GuardSettings, address_group
from badgechain.bns.puzzle import id_puzzle_bits, solves_id_puzzle
from badgechain.bns.record import Record, derive_dht_key, make_location
from badgechain.bns.values import BnsValues, address_of_key
from badgechain.chain.keys import KeyPair
from badgechain.storage import Kind, MemoryStore
from tests.bns.network import TEST_ID_DIFFICULTY, TEST_SETTINGS, Network, make_badge_entry

ISSUER = KeyPair.from_seed(bytes(range(32)))
EARNER = KeyPair.from_seed(bytes(range(1, 33)))
RECV_TIMEOUT_S = 2.0
POLL_S = 0.01


@pytest.fixture
async def net() -> AsyncIterator[Network]:
    network = Network()
    try:
        await network.start(6)
        yield network
    finally:
        await network.stop()


@pytest.fixture
def raw() -> Any:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def fresh_sender() -> list[bytes]:
    key = os.urandom(32)
    return [key, solve_id_puzzle(key, TEST_ID_DIFFICULTY)]


def request(method: str, sender: list[bytes], *args: Any, pad: int = -1) -> bytes:
    message: list[Any] = [method, [sender, *args]]
    if pad >= 0:
        message.append(bytes(pad))
    return b"\x02" + os.urandom(20) + bytes(msgpack.packb(message, use_bin_type=True))


async def receive(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.sock_recv(sock, 65536), RECV_TIMEOUT_S)


def drain(sock: socket.socket) -> list[bytes]:
    got = []
    while True:
        try:
            got.append(sock.recv(65536))
        except BlockingIOError:
            return got


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


async def hold_values(net: Network, count: int) -> list[bytes]:
    """Store `count` large records; with k = 20 every node of a small network holds them all."""
    addresses = []
    urls = tuple(f"https://badges.example/{i}/" + "b" * 80 for i in range(4))
    for _ in range(count):
        entry = make_badge_entry(ISSUER, EARNER)
        location = make_location(EARNER, entry.uid, urls, 1)
        await net.nodes[0].store_value(Record(entry, location).to_wire_bytes())
        addresses.append(address_of_key(derive_dht_key(entry.uid)))
    return addresses


# --- item 2: amplification -------------------------------------------------------------------


async def test_a_spoofed_ping_gets_back_at_most_three_times_its_bytes(
    net: Network, raw: socket.socket
) -> None:
    await hold_values(net, 20)
    target = net.nodes[1]
    ping = request("ping", fresh_sender())
    raw.sendto(ping, target.address)
    got = [await receive(raw), await receive(raw)]  # the answer and a ping checking the address
    assert sorted(d[:1] for d in got) == [b"\x02", b"\x03"]
    # The check goes unanswered, as it would at a forged address; nothing else is sent.
    assert await eventually(lambda: not target.protocol._verifying)
    got += drain(raw)
    assert len(got) == 2 and sum(map(len, got)) <= 3 * len(ping)
    assert target.contact_count() == 5
    assert target.stats["stores_accepted"] == 20  # nor did it take anything


async def test_an_unproven_source_gets_contacts_not_a_value_unless_it_pads(
    net: Network, raw: socket.socket
) -> None:
    [address] = await hold_values(net, 1)
    target, sender = net.nodes[2], fresh_sender()
    short = request("find_value", sender, address)
    raw.sendto(short, target.address)
    reply = await receive(raw)  # the answer leaves no budget for a check of the address
    answer = msgpack.unpackb(reply[21:], raw=False)
    assert isinstance(answer, list) and len(reply) <= 3 * len(short)  # contacts, cut short
    assert await eventually(lambda: target.stats["verifications_capped"] == 1), (
        len(short),
        len(reply),
        target.stats,
    )

    padded = request("find_value", sender, address, pad=500)
    raw.sendto(padded, target.address)
    reply = await receive(raw)
    while reply[:1] != b"\x03":
        reply = await receive(raw)
    assert msgpack.unpackb(reply[21:], raw=False) == {"value": target.held(address)}


async def test_requests_from_an_unproven_source_are_rate_limited(
    net: Network, raw: socket.socket
) -> None:
    target, sender = net.nodes[3], fresh_sender()
    for _ in range(100):
        raw.sendto(request("ping", sender), target.address)
    assert await eventually(lambda: target.stats["requests_rate_limited"] > 0)
    assert await eventually(lambda: not target.protocol._verifying)
    answers = [d for d in drain(raw) if d[:1] == b"\x03"]
    assert len(answers) <= GuardSettings().unproven_burst + 2
    assert await net.nodes[0].protocol.request(net.nodes[0].contacts()[0], "ping")  # others: fine


async def test_a_version_1_datagram_is_dropped_and_counted(
    net: Network, raw: socket.socket
) -> None:
    target = net.nodes[4]
    old_ping = b"\x00" + os.urandom(20) + bytes(msgpack.packb(["ping", [os.urandom(32)]]))
    raw.sendto(old_ping, target.address)
    assert await eventually(lambda: target.stats["datagrams_old_version"] == 1)
    assert drain(raw) == []


# --- item 3: routing-table flood -------------------------------------------------------------


async def test_a_flood_of_fresh_keys_from_a_silent_source_adds_no_contact(
    net: Network, raw: socket.socket
) -> None:
    [address] = await hold_values(net, 1)
    target = net.nodes[1]
    for _ in range(300):
        raw.sendto(request("ping", fresh_sender()), target.address)
    assert await eventually(
        lambda: target.stats["requests_rate_limited"] + target.stats["new_contacts_limited"] > 0
    )
    assert await eventually(lambda: not target.protocol._verifying)
    assert target.contact_count() == 5
    assert (await target.fetch(address)).value == target.held(address)


async def test_new_keys_from_one_address_are_bounded_per_minute(raw: socket.socket) -> None:
    # Room in the bucket for every key, so only the per-minute bound is at work.
    guard = GuardSettings(new_contacts_per_minute=3)
    settings = replace(TEST_SETTINGS, guard=guard, bucket_ip_limit=20)
    network = Network(settings=settings)
    await network.start(2)
    try:
        target = network.nodes[1]
        senders = [fresh_sender() for _ in range(8)]
        for sender in senders:  # an answering Sybil: it confirms each key it names
            raw.sendto(request("ping", sender), target.address)
            await receive(raw)  # the answer; the check, if any, is already under way
            if node_id_of(*sender) in target.protocol._verifying:
                check = await receive(raw)
                assert check[:1] == b"\x02"
                answer = b"\x03" + check[1:21] + bytes(msgpack.packb(sender))
                raw.sendto(answer, target.address)

                def checked(s: list[bytes] = sender) -> bool:
                    return node_id_of(*s) not in target.protocol._verifying

                await eventually(checked)
        keys = {c.public_key for c in target.contacts()}
        assert sum(1 for s in senders if s[0] in keys) == 3
        assert target.stats["new_contacts_limited"] == 5
    finally:
        await network.stop()


# --- pure parts ------------------------------------------------------------------------------


def test_guard_caps_bytes_to_an_unproven_address_until_it_answers() -> None:
    guard = AddressGuard(GuardSettings(amplification_factor=3.0))
    source = ("192.0.2.1", 4000)
    guard.received(source, 60, now=0.0)
    assert guard.budget(source, 0.0) == 180
    assert guard.spend(source, 150, 0.0) and not guard.spend(source, 31, 0.0)
    assert guard.spend(source, 30, 0.0)
    guard.received(source, 10, now=61.0)  # a new minute starts a new ledger
    assert guard.budget(source, 61.0) == 30
    guard.prove(source, 62.0)
    assert guard.spend(source, 10_000, 62.0)
    assert not guard.is_proven(source, 62.0 + GuardSettings().proven_ttl)


def test_guard_rate_limits_and_bounds_new_keys_per_address() -> None:
    guard = AddressGuard(
        GuardSettings(unproven_requests_per_s=10, unproven_burst=5, new_contacts_per_minute=2)
    )
    source = ("198.51.100.7", 5000)
    assert [guard.allow_request(source, 0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert guard.allow_request(source, 0.1)  # refilled at 10 a second
    guard.prove(source, 0.1)
    assert sum(guard.allow_request(source, 0.1) for _ in range(500)) == 400  # proven_burst
    assert [guard.allow_new_contact(source, 0.0) for _ in range(3)] == [True, True, False]
    assert guard.allow_new_contact(source, 60.0)
    per_ip = AddressGuard(GuardSettings(new_contacts_per_ip_minute=2))
    ports = [("198.51.100.8", port) for port in range(3)]
    assert [per_ip.allow_new_contact(p, 0.0) for p in ports] == [True, True, False]


def test_loopback_ports_are_hosts_unless_grouped_by_ip() -> None:
    assert address_group("127.0.0.1", 9, group_loopback_by_ip=False) == "127.0.0.1:9"
    assert address_group("127.0.0.1", 9, group_loopback_by_ip=True) == "127.0.0.1"
    assert address_group("203.0.113.5", 9, group_loopback_by_ip=False) == "203.0.113.5"


def test_id_puzzle_solution_is_checked_and_moves_the_id() -> None:
    key = KeyPair.from_seed(bytes(32)).public_key
    nonce = solve_id_puzzle(key, 8)
    assert solves_id_puzzle(key, nonce, 8) and id_puzzle_bits(key, nonce) >= 8
    assert not solves_id_puzzle(key, nonce[:7], 0)
    other = solve_id_puzzle(key, 8, int.from_bytes(nonce, "big") + 1)
    assert node_id_of(key, other) != node_id_of(key, nonce)


def test_id_puzzle_is_solved_once_and_kept() -> None:
    key, store = KeyPair.generate(), MemoryStore()
    settings = replace(DhtSettings(), id_difficulty=10)
    first = DhtNode(key.public_key, store, BnsValues(), settings)
    assert store.get(Kind.JOURNAL, b"dht/id-nonce") == key.public_key + first.me.nonce
    again = DhtNode(key.public_key, store, BnsValues(), settings)
    assert again.me.id == first.me.id
    harder = DhtNode(key.public_key, store, BnsValues(), replace(settings, id_difficulty=12))
    assert id_puzzle_bits(key.public_key, harder.me.nonce) >= 12


async def test_contacts_whose_id_puzzle_is_unsolved_are_not_asked(net: Network) -> None:
    liar, asker = net.nodes[2], net.nodes[0]
    key = os.urandom(32)
    unsolved = next(
        n
        for n in (i.to_bytes(8, "big") for i in range(1000))
        if not solves_id_puzzle(key, n, TEST_ID_DIFFICULTY)
    )
    fake = [key, "127.0.0.1", net.nodes[5].address[1], unsolved]

    def answer(sender: Any, address: Any) -> list[Any]:
        return [fake]

    liar.protocol._handlers["find_node"] = answer
    await asker.find_closest(os.urandom(20))
    assert asker.stats["contacts_refused"] >= 1
    assert key not in {c.public_key for c in asker.contacts()}


# --- item 6b: a write is done once enough hosts hold it --------------------------------------


async def test_a_write_short_of_its_quorum_is_pushed_again_until_done() -> None:
    network = Network(settings=replace(TEST_SETTINGS, write_quorum=3))
    await network.start(4)  # the writer and three others, two of which drop every STORE
    try:
        writer, dropping = network.nodes[0], network.nodes[2:]
        handlers = [node.protocol._handlers["store"] for node in dropping]
        for node in dropping:
            node.protocol._handlers["store"] = lambda sender, at, value: None
        entry = make_badge_entry(ISSUER, EARNER)
        result = await writer.publish(Record(entry).to_wire_bytes())
        assert (result.accepted, result.hosts, result.done) == (1, 1, False)
        assert await writer.finish_writes() == 1  # still short: it stays pending
        for node, handler in zip(dropping, handlers, strict=True):
            node.protocol._handlers["store"] = handler
        assert await writer.finish_writes() == 0
        address = address_of_key(derive_dht_key(entry.uid))
        assert all(n.held(address) for n in network.live)
    finally:
        await network.stop()


async def test_a_writer_sees_its_own_write_whatever_the_replicas_say(net: Network) -> None:
    writer = net.nodes[0]
    entry = make_badge_entry(ISSUER, EARNER)
    address = address_of_key(derive_dht_key(entry.uid))
    for node in net.nodes[1:]:  # every other node acknowledges and keeps nothing
        node.protocol._handlers["store"] = lambda sender, at, value: "ok"
    await writer.publish(Record(entry).to_wire_bytes())
    writer.store.delete(Kind.BNS_RECORD, address)  # not even held here as a replica
    assert (await writer.fetch(address)).value == Record(entry).to_wire_bytes()
    assert (await net.nodes[1].fetch(address)).value is None
