"""Merkle receipts: the path from a leaf to the root, and receipts that are refused."""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from badgechain.chain.merkle import (
    ReceiptError,
    Side,
    decode_merkle_proof_2019,
    read_merkle_proof_2017,
    root_from_path,
)
from badgechain.chain.multibase import multibase_encode_b58


def _tree(leaves: list[bytes], index: int) -> tuple[bytes, tuple[tuple[Side, bytes], ...]]:
    """The root of a tree over `leaves` (an odd node is promoted) and the path of one leaf."""
    level, path = leaves, list[tuple[Side, bytes]]()
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(("left" if sibling < index else "right", level[sibling]))
        pairs = [level[i : i + 2] for i in range(0, len(level), 2)]
        level = [
            hashlib.sha256(b"".join(pair)).digest() if len(pair) == 2 else pair[0] for pair in pairs
        ]
        index //= 2
    return level[0], tuple(path)


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40), st.data())
def test_every_leaf_leads_to_the_root(leaves: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    root, path = _tree(leaves, index)
    assert root_from_path(leaves[index], path) == root
    flipped = bytes([leaves[index][0] ^ 1]) + leaves[index][1:]
    assert root_from_path(flipped, path) != root


def _encode(fields: list[list[object]]) -> str:
    return multibase_encode_b58(cbor2.dumps(fields))


def test_a_2019_receipt_round_trips() -> None:
    target, sibling = b"\x01" * 32, b"\x02" * 32
    root = hashlib.sha256(sibling + target).digest()
    anchor = [[0, 0], [1, 3], [2, cbor2.dumps("ab" * 32)]]
    value = _encode(
        [
            [3, [[0, cbor2.dumps(sibling)]]],
            [0, cbor2.dumps(root.hex())],
            [1, cbor2.dumps(target)],
            [2, [anchor]],
        ]
    )
    receipt = decode_merkle_proof_2019(value)
    assert (receipt.target_hash, receipt.merkle_root) == (target, root)
    assert receipt.path == (("left", sibling),)
    assert (receipt.anchors[0].chain, receipt.anchors[0].network) == ("bitcoin", "testnet")
    assert root_from_path(receipt.target_hash, receipt.path) == receipt.merkle_root


@pytest.mark.parametrize(
    "fields",
    [
        [],  # no anchors
        [[0, cbor2.dumps("00" * 32)], [1, cbor2.dumps("00" * 31)], [2, [[[0, -1]]]]],  # short hash
        [[0, cbor2.dumps("zz" * 32)], [1, cbor2.dumps("00" * 32)], [2, [[[0, -1]]]]],  # not hex
        [[3, [[7, cbor2.dumps("00" * 32)]]], [2, [[[0, -1]]]]],  # a side that is neither
        [[0, 1, 2]],  # not a pair
    ],
)
def test_malformed_2019_receipts_are_refused(fields: list[list[object]]) -> None:
    with pytest.raises(ReceiptError):
        decode_merkle_proof_2019(_encode(fields))


@pytest.mark.parametrize(
    "receipt",
    [
        {"targetHash": "00" * 32, "merkleRoot": "00" * 32, "proof": [], "anchors": []},
        {"targetHash": "00" * 32, "merkleRoot": "00" * 32, "proof": [{"up": "00" * 32}]},
        {"targetHash": 5, "merkleRoot": "00" * 32, "proof": [], "anchors": [{"sourceId": "x"}]},
    ],
)
def test_malformed_2017_receipts_are_refused(receipt: dict[str, object]) -> None:
    with pytest.raises(ReceiptError):
        read_merkle_proof_2017(receipt)
