"""Peer boards (bns/peers.py) and GET /peers across real in-process nodes: each node's
signed gateway announcement reaches the others through the DHT; storing nodes refuse a
board that is forged, misplaced or crowded."""

from __future__ import annotations

import base64
import contextlib
import random

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.bns.errors import RecordError
from badgechain.bns.peers import (
    MAX_BOARD_ENTRIES,
    PeerAnnouncement,
    PeerBoard,
    bucket_of,
    make_peer_announcement,
    merge_peer_boards,
)
from badgechain.bns.values import BnsValues, address_of_key, decode_value
from badgechain.chain.errors import BadgeChainError, DecodeError
from badgechain.chain.keys import KeyPair, public_key_from_did_key, verify_signature
from badgechain.node import peers
from tests.node.conftest import NodeNetwork, eventually


def _keys_on_one_board(count: int) -> list[KeyPair]:
    """`count` keys that announce on the same board."""
    by_bucket: dict[int, list[KeyPair]] = {}
    while True:
        key = KeyPair.generate()
        group = by_bucket.setdefault(bucket_of(key.public_key), [])
        group.append(key)
        if len(group) == count:
            return group


def _board(*entries: PeerAnnouncement) -> PeerBoard:
    return PeerBoard(bucket_of(entries[0].public_key), entries)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_board_round_trips_and_is_stored_as_a_bns_value() -> None:
    key = KeyPair.generate()
    board = _board(make_peer_announcement(key, "https://gw.example.org", 1_700_000_000))
    assert PeerBoard.from_wire_bytes(board.to_wire_bytes()) == board
    assert decode_value(board.to_wire_bytes()) == board
    values = BnsValues()
    wire = board.to_wire_bytes()
    assert values.accept(values.address_of(wire), None, wire) == wire


def test_storing_nodes_refuse_forged_misplaced_and_crowded_boards() -> None:
    values = BnsValues()
    key = KeyPair.generate()
    good = make_peer_announcement(key, "https://gw.example.org", 100)
    forged = PeerAnnouncement(key.public_key, "https://evil.example", 100, good.signature)
    wire = _board(forged).to_wire_bytes()
    with pytest.raises(RecordError) as refused:
        values.accept(values.address_of(wire), None, wire)
    assert refused.value.code == "peer_signature_invalid"
    other = next(b for b in range(16) if b != bucket_of(key.public_key))
    misplaced = PeerBoard(other, (good,)).to_wire_bytes()
    with pytest.raises(RecordError):
        values.accept(values.address_of(misplaced), None, misplaced)
    with pytest.raises(BadgeChainError):  # more entries than a board holds
        PeerBoard(0, tuple([good] * (MAX_BOARD_ENTRIES + 1)))


def test_merging_boards_keeps_the_newest_per_key_in_any_order() -> None:
    keys = _keys_on_one_board(MAX_BOARD_ENTRIES + 2)
    entries = [
        make_peer_announcement(key, f"https://gw{n}.example.org", seq)
        for n, key in enumerate(keys)
        for seq in (10 + n, 20 + n)
    ]
    boards = [_board(entry) for entry in entries]
    merges = set()
    rng = random.Random(7)
    for _ in range(30):  # many arrival orders, one result
        rng.shuffle(boards)
        merged = boards[0]
        for board in boards[1:]:
            merged = merge_peer_boards(merged, board)
        merges.add(merged)
    (merged,) = merges
    assert len(merged.entries) == MAX_BOARD_ENTRIES
    assert {entry.seq for entry in merged.entries} == {20 + n for n in range(2, len(keys))}


@pytest.mark.slow
async def test_peers_lists_the_other_gateways_each_signed(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    nodes = await node_network.start(4)
    for node in nodes[:3]:  # loopback nodes do not announce by themselves; public ones do
        await peers.announce_peer(node)
    asker = nodes[3]
    expected = {node.did: node.gateway_url for node in nodes[:3]}

    async def listed() -> bool:
        peers._CACHE.clear()
        async with http.get(asker.gateway_url + "/peers") as response:
            assert response.status == 200
            answer = await response.json()
        found = {peer["did"]: peer for peer in answer["peers"]}
        if {did: peer["url"] for did, peer in found.items()} != expected:
            return False
        for did, peer in found.items():
            signed = _unb64(peer["signed"])
            assert peer["url"].encode() in signed
            assert verify_signature(public_key_from_did_key(did), signed, _unb64(peer["signature"]))
        return True

    await eventually(listed, timeout=20)
    async with http.get(nodes[0].gateway_url + "/peers") as response:
        own = {peer["did"] for peer in (await response.json())["peers"]}
    assert nodes[0].did not in own  # a node lists others, never itself
    held = nodes[1].dht.held(address_of_key(PeerBoard(bucket_of(nodes[2].key.public_key), ()).key))
    assert held is None or isinstance(decode_value(held), PeerBoard)


@given(st.binary(max_size=1300))
@settings(max_examples=300, deadline=None)
def test_any_bytes_decode_as_a_board_or_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        PeerBoard.from_wire_bytes(b"\x94\xa9bns/peers" + data)
