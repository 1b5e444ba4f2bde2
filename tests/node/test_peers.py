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
    MAX_PER_PREFIX,
    PEER_BUCKETS,
    PeerAnnouncement,
    PeerBoard,
    bucket_of,
    make_peer_announcement,
    merge_peer_boards,
    sample_announcements,
    sample_boards,
    url_prefix,
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


# --- a sample no one node or network can crowd ---------------------------------------------

NOW = 1_700_000_000


def test_one_signer_filling_every_board_is_one_entry_of_the_sample() -> None:
    """A hostile replica answers every board with entries of one key (other URLs, newer
    seqs): the reader keeps that key's entry on its own board, once."""
    crowd = KeyPair.generate()
    boards = [
        PeerBoard.from_wire_bytes(  # decoded as a reader decodes a replica's answer
            PeerBoard(
                bucket,
                tuple(
                    make_peer_announcement(crowd, f"https://c{bucket}-{n}.example", NOW - n)
                    for n in range(MAX_BOARD_ENTRIES)
                ),
            ).to_wire_bytes()
        )
        for bucket in range(PEER_BUCKETS)
    ]
    honest = [KeyPair.generate() for _ in range(5)]
    for n, key in enumerate(honest):
        boards.append(_board(make_peer_announcement(key, f"https://gw.site{n}.org", NOW - 60)))
    sample = sample_boards(
        boards, now=NOW, exclude=bytes(32), max_age_s=3 * 86_400, skew_s=600, seen={}
    )
    (from_crowd,) = [entry for entry in sample if entry.public_key == crowd.public_key]
    assert from_crowd.url == f"https://c{bucket_of(crowd.public_key)}-0.example"  # its own
    assert {entry.public_key for entry in sample} >= {key.public_key for key in honest}


def test_many_signers_on_one_network_take_two_places() -> None:
    """An operator with 40 keys whose gateways share a /24 (or one domain) gets
    MAX_PER_PREFIX entries; the gateways elsewhere all keep theirs."""
    sybils = [
        make_peer_announcement(KeyPair.generate(), f"https://203.0.113.{n}:8443", NOW)
        for n in range(40)
    ]
    named = [
        make_peer_announcement(KeyPair.generate(), f"https://gw{n}.crowd.example", NOW)
        for n in range(40)
    ]
    others = [
        make_peer_announcement(KeyPair.generate(), url, NOW - 3600)
        for url in ("https://198.51.100.7", "https://gw.school.ac.uk", "https://[2001:db8::1]/")
    ]
    sample = sample_announcements([*sybils, *named, *others], seen={})
    prefixes = [url_prefix(entry.url) for entry in sample]
    assert prefixes.count("203.0.113.0/24") == MAX_PER_PREFIX
    assert prefixes.count("crowd.example") == MAX_PER_PREFIX
    assert set(others) <= set(sample)


def test_signers_the_routing_table_has_heard_from_come_first() -> None:
    keys = [KeyPair.generate() for _ in range(6)]
    entries = [
        make_peer_announcement(key, f"https://gw{n}.site{n}.org", NOW + n)
        for n, key in enumerate(keys)
    ]
    seen: dict[bytes, float] = {
        keys[0].public_key: 50.0,
        keys[1].public_key: 90.0,
    }  # heard from, and when
    sample = sample_announcements(entries, seen=seen, limit=3)
    assert [entry.public_key for entry in sample] == [
        keys[1].public_key,  # heard most recently
        keys[0].public_key,
        keys[5].public_key,  # then the newest announcement
    ]


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("https://203.0.113.9/", "203.0.113.0/24"),
        ("http://203.0.113.200:8080", "203.0.113.0/24"),
        ("https://[2001:db8:1:2::1]/", "2001:db8:1::/48"),
        ("http://127.0.0.1:4880", "127.0.0.1:4880"),  # the nodes of a devnet count apart
        ("https://a.b.gw.example.org", "example.org"),
        ("https://gw.school.co.uk", "school.co.uk"),
        ("https://localhost:8080", "localhost"),
    ],
)
def test_url_prefix_names_the_network_a_gateway_counts_under(url: str, prefix: str) -> None:
    assert url_prefix(url) == prefix


@pytest.mark.slow
async def test_peers_is_not_crowded_by_one_operators_many_keys(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """Twelve keys of one operator announce gateways in one /24 through the DHT (valid
    entries, each on its key's board): GET /peers lists two of them and every honest
    gateway."""
    nodes = await node_network.start(4)
    for node in nodes[:3]:
        await peers.announce_peer(node)
    operator = [KeyPair.generate() for _ in range(12)]
    stamp = int(nodes[0].clock().timestamp()) - 60  # older than the honest entries
    for n, key in enumerate(operator):
        entry = make_peer_announcement(key, f"https://203.0.113.{n + 1}", stamp)
        result = await nodes[1].dht.publish(_board(entry).to_wire_bytes())
        assert result.accepted > 0
    asker = nodes[3]
    honest = {node.did for node in nodes[:3]}
    listed: list[dict[str, str]] = []

    async def settled() -> bool:
        nonlocal listed
        peers._CACHE.clear()
        async with http.get(asker.gateway_url + "/peers") as response:
            listed = (await response.json())["peers"]
        crowd = [peer for peer in listed if peer["url"].startswith("https://203.0.113.")]
        return honest <= {peer["did"] for peer in listed} and len(crowd) >= MAX_PER_PREFIX

    await eventually(settled, timeout=20)
    crowd = [peer for peer in listed if peer["url"].startswith("https://203.0.113.")]
    assert len(crowd) == MAX_PER_PREFIX
