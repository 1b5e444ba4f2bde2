"""The DHT's typed RPC messages (bns/messages.py): wire version 2, byte for byte."""

from __future__ import annotations

import contextlib
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information
import pytest
from hypothesis import given
from hypothesis import strategies as st

from badgechain.bns.messages import (
    MAX_DATAGRAM_BYTES,
    REQUESTS,
    Contacts,
    FindNode,
    FindValue,
    Peer,
    Ping,
    Pong,
    Request,
    Sender,
    Store,
    StoreAnswer,
    Value,
    WireError,
    decode_datagram,
    encode_reply,
)

KEY, NONCE, MSG_ID, ADDRESS = b"k" * 32, b"n" * 8, b"i" * 20, b"a" * 20
SENDER = Sender(KEY, NONCE)
PEER = Peer(b"p" * 32, "10.0.0.7", 4000, b"q" * 8)


def v2_request(method: str, *args: Any) -> bytes:
    """What docs/bns.md says a request is, built by hand."""
    body = bytes(msgpack.packb([method, [[KEY, NONCE], *args]], use_bin_type=True))
    return b"\x02" + MSG_ID + body


@pytest.mark.parametrize(
    ("request_", "method", "args"),
    [
        (Ping(SENDER), "ping", []),
        (Store(SENDER, ADDRESS, b"value"), "store", [ADDRESS, b"value"]),
        (FindNode(SENDER, ADDRESS), "find_node", [ADDRESS]),
        (FindValue(SENDER, ADDRESS), "find_value", [ADDRESS]),
    ],
)
def test_requests_are_version_2_bytes_and_round_trip(
    request_: Request, method: str, args: list[Any]
) -> None:
    data = request_.to_wire_bytes(MSG_ID)
    assert data == v2_request(method, *args)
    kind, msg_id, body = decode_datagram(data)
    assert (kind, msg_id) == (2, MSG_ID)
    assert Request.from_body(body) == request_
    assert REQUESTS[method] is type(request_)


def test_a_padded_request_is_about_the_size_asked_and_still_decodes() -> None:
    data = FindNode(SENDER, ADDRESS).to_wire_bytes(MSG_ID, pad_to=500)
    assert 500 <= len(data) <= 505  # the bytes header of the padding itself grows
    assert Request.from_body(decode_datagram(data)[2]) == FindNode(SENDER, ADDRESS)


@pytest.mark.parametrize(
    ("kind", "reply", "wire"),
    [
        (Ping, Pong(SENDER), [KEY, NONCE]),
        (Store, StoreAnswer("stale"), "stale"),
        (FindNode, Contacts((PEER,)), [PEER.fields()]),
        (FindValue, Value(b"v"), {"value": b"v"}),
        (FindValue, Contacts((PEER,)), [PEER.fields()]),
    ],
)
def test_replies_are_decoded_by_the_method_they_answer(
    kind: type[Request], reply: Any, wire: Any
) -> None:
    data = reply.to_wire_bytes(MSG_ID)
    assert data == b"\x03" + MSG_ID + msgpack.packb(wire, use_bin_type=True)
    assert encode_reply(MSG_ID, wire) == data
    assert kind.reply_from_body(decode_datagram(data)[2], 20) == reply


def test_malformed_contacts_are_counted_and_left_out() -> None:
    items = [
        PEER.fields(),
        [b"x", "10.0.0.1", 1, NONCE],
        [PEER.public_key, "host.example", 1, NONCE],
    ]
    assert FindNode.reply_from_body(items, 20) == Contacts((PEER,), 2)
    assert FindNode.reply_from_body([PEER.fields()] * 30, 20) == Contacts((PEER,) * 20)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "datagram_invalid"),
        (b"\x00" + MSG_ID + b"\x90", "datagram_old_version"),
        (b"\x01" + MSG_ID + b"\x90", "datagram_old_version"),
        (b"\x07" + MSG_ID + b"\x90", "datagram_invalid"),
        (b"\x02" + MSG_ID, "datagram_size"),
        (b"\x02" + MSG_ID + b"\x90" * MAX_DATAGRAM_BYTES, "datagram_size"),
        (b"\x02" + MSG_ID + b"\xc1", "datagram_invalid"),
    ],
)
def test_bad_datagrams_have_stable_codes(data: bytes, code: str) -> None:
    with pytest.raises(WireError) as raised:
        decode_datagram(data)
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("ping", "request_invalid"),
        (["ping", []], "request_invalid"),
        (["ping", [[KEY, NONCE]], "not bytes"], "request_invalid"),
        (["dance", [[KEY, NONCE]]], "method_unknown"),
        ([1, [[KEY, NONCE]]], "method_unknown"),
        (["ping", [[KEY]]], "sender_invalid"),
        (["ping", [[KEY, b"short"]]], "sender_invalid"),
        (["ping", [[KEY, NONCE], 1]], "request_invalid"),
        (["find_node", [[KEY, NONCE], b"short"]], "address_invalid"),
        (["store", [[KEY, NONCE], ADDRESS]], "request_invalid"),
    ],
)
def test_bad_requests_have_stable_codes(body: Any, code: str) -> None:
    with pytest.raises(WireError) as raised:
        Request.from_body(body)
    assert raised.value.code == code


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=20,
)  # fmt: skip


@given(st.sampled_from(sorted(REQUESTS)), msgpack_values, msgpack_values)
def test_any_body_is_a_request_or_a_wire_error(method: str, a: Any, b: Any) -> None:
    for body in (
        [method, [[KEY, NONCE], a]],
        [method, [a, b]],
        [a, b],
        [method, [[KEY, NONCE], a, b]],
    ):
        with contextlib.suppress(WireError):
            Request.from_body(body)
    for kind in REQUESTS.values():
        with contextlib.suppress(WireError):
            kind.reply_from_body(a, 20)
