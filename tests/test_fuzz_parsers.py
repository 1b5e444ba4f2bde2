"""Property-based fuzz (Hypothesis) of every parser a network peer can reach: JSON with
limits, PNG and SVG carriers, VC-JWT, msgpack BNS values, DHT datagrams and node log
entries. Each either answers or raises a BadgeChainError (a stable code); nothing else
escapes. Amplifying inputs (deep nesting, compression bombs, many chunks) are refused
within a memory bound measured with tracemalloc: work, not wall time.

BADGECHAIN_FUZZ_EXAMPLES sets the examples per property (default: a quick CI run).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import struct
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from badgechain.bns import wire
from badgechain.bns.dht import ID_BYTES, DhtNode, solve_id_puzzle
from badgechain.bns.record import Record
from badgechain.bns.values import BnsValues, decode_value
from badgechain.chain import jose
from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.bake import OB2_PNG_KEYWORD, OB3_PNG_KEYWORD, bake_png, bake_svg, unbake
from badgechain.chain.errors import BadgeChainError, InputTooLarge
from badgechain.chain.images import default_png, render_badge_svg
from badgechain.chain.jsonio import MAX_JSON_DEPTH, parse_json
from badgechain.chain.keys import KeyPair
from badgechain.chain.nodelog import ENTRY_FIELDS, check_entry
from badgechain.chain.proof import sign_credential
from badgechain.chain.verify import verify_badge
from badgechain.storage import MemoryStore
from tests.bns.network import TEST_ID_DIFFICULTY, TEST_SETTINGS

EXAMPLES = int(os.environ.get("BADGECHAIN_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # bounded by the memory checks below, not by a clock
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("BADGECHAIN_FUZZ_RANDOM") is None,
)
RAN: Counter[str] = Counter()  # inputs per parser, printed at the end (pytest -s)
MIB = 1024 * 1024


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Iterator[None]:
    yield
    print(f"\nparser fuzz: {sum(RAN.values())} inputs, {dict(sorted(RAN.items()))}")


def refused_or_read(name: str, parse: Callable[[], object]) -> object:
    """Run one parse: a value or a BadgeChainError; anything else fails the test."""
    RAN[name] += 1
    try:
        return parse()
    except BadgeChainError as exc:
        refused = exc
    assert isinstance(refused.code, str) and refused.code, refused
    return refused


def peak_bytes(parse: Callable[[], object]) -> int:
    """The most memory `parse` held at once, refusals included."""
    tracemalloc.start()
    try:
        refused_or_read("bomb", parse)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- JSON ----------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)
JSON_FRAGMENTS = st.sampled_from(
    ['{"a":', '"a"', "[", "]", "{", "}", ",", ":", "1e999999", "NaN", "-", "\\u", '"\\ud800"']
)


@FUZZ
@given(st.binary(max_size=2048) | st.lists(JSON_FRAGMENTS | st.text(max_size=8)).map("".join))
def test_json_never_crashes(data: bytes | str) -> None:
    refused_or_read("json", lambda: parse_json(data, max_bytes=1024))


@FUZZ
@given(JSON_VALUES)
def test_json_reads_what_json_writes(value: Any) -> None:
    text = json.dumps(value)
    assert refused_or_read("json", lambda: parse_json(text)) == value


@FUZZ
@given(st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=4))
def test_json_refuses_a_duplicate_key(members: dict[str, int]) -> None:
    key = next(iter(members))
    text = "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in [*members.items(), (key, 0)]) + "}"
    result = refused_or_read("json", lambda: parse_json(text))
    assert isinstance(result, BadgeChainError)


def test_json_nesting_is_refused_within_bounded_memory() -> None:
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    assert isinstance(refused_or_read("json", lambda: parse_json(deep)), BadgeChainError)
    bomb = "[" * 900_000 + "]" * 100_000
    assert peak_bytes(lambda: parse_json(bomb, max_bytes=MIB)) < 8 * MIB


# -- PNG and SVG carriers --------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes, *, good_crc: bool = True) -> bytes:
    crc = zlib.crc32(kind + data) if good_crc else 0
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


_KEYWORDS = st.sampled_from([OB3_PNG_KEYWORD, OB2_PNG_KEYWORD, b"openbadge", b"Comment"])
_TEXT_CHUNKS = st.one_of(
    st.builds(lambda k, t: _chunk(b"tEXt", k + b"\0" + t), _KEYWORDS, st.binary(max_size=64)),
    st.builds(
        lambda k, t, m: _chunk(b"zTXt", k + b"\0" + bytes([m]) + zlib.compress(t)),
        _KEYWORDS,
        st.binary(max_size=64),
        st.integers(0, 1),
    ),
    st.builds(
        lambda k, c, t: _chunk(b"iTXt", k + b"\0" + bytes([c, 0]) + b"\0\0" + t),
        _KEYWORDS,
        st.integers(0, 2),
        st.binary(max_size=64),
    ),
)
_ANY_CHUNK = st.builds(
    _chunk,
    st.sampled_from([b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tEXt", b"zTXt", b"iTXt", b"abcd"]),
    st.binary(max_size=32),
    good_crc=st.booleans(),
)


def _png_parts() -> tuple[bytes, bytes, bytes]:
    """A real PNG split into signature+IHDR, the middle, and IEND."""
    image = default_png()
    ihdr_end = 8 + 25
    return image[:ihdr_end], image[ihdr_end:-12], image[-12:]


@st.composite
def png_inputs(draw: st.DrawFn) -> bytes:
    head, body, tail = _png_parts()
    chunks = draw(st.lists(_TEXT_CHUNKS | _ANY_CHUNK, max_size=6))
    image = head + b"".join(chunks) + body + tail
    if draw(st.booleans()):  # damage it: flip, cut or insert bytes
        at = draw(st.integers(0, len(image)))
        image = image[:at] + draw(st.binary(max_size=4)) + image[at + draw(st.integers(0, 4)) :]
    return image


@FUZZ
@given(png_inputs() | st.binary(max_size=256).map(b"\x89PNG\r\n\x1a\n".__add__))
def test_png_unbake_never_crashes(image: bytes) -> None:
    refused_or_read("png", lambda: unbake(image))


@FUZZ
@given(st.text(max_size=200), st.integers(0, 10_000), st.binary(min_size=1, max_size=3))
def test_a_baked_png_damaged_anywhere_never_crashes(payload: str, at: int, junk: bytes) -> None:
    baked = refused_or_read("png", lambda: bake_png(default_png(), payload or "x"))
    if isinstance(baked, bytes):
        at %= len(baked)
        refused_or_read("png", lambda: unbake(baked[:at] + junk + baked[at + 1 :]))


SVG_FRAGMENTS = st.sampled_from(
    [
        "<svg xmlns='http://www.w3.org/2000/svg' xmlns:openbadges='https://purl.imsglobal.org/ob/v3p0'>",
        "<svg xmlns:openbadges='http://openbadges.org'>",
        "</svg>",
        "<openbadges:credential>",
        "</openbadges:credential>",
        "<openbadges:assertion verify='https://example.org/a'>",
        "</openbadges:assertion>",
        "<openbadges:credential/>",
        "<![CDATA[",
        "]]>",
        "<!--",
        "-->",
        "<!DOCTYPE svg [<!ENTITY a 'aaaa'>]>",
        "&a;",
        "&lt;",
        "<?xml version='1.0'?>",
        "<g>",
        "</g>",
        '{"@context": ["https://www.w3.org/ns/credentials/v2"]}',
        "eyJhbGciOiJFZERTQSJ9.e30.AA",
        "'",
        '"',
        "=",
        ">",
        "<",
    ]
)


@FUZZ
@given(st.lists(SVG_FRAGMENTS | st.text(max_size=6), max_size=30).map("".join))
def test_svg_unbake_never_crashes(text: str) -> None:
    refused_or_read("svg", lambda: unbake(text.encode()))
    refused_or_read("svg", lambda: unbake(text.encode("utf-16")))


@FUZZ
@given(st.text(max_size=200), st.integers(0, 100_000), st.binary(min_size=1, max_size=3))
def test_a_baked_svg_damaged_anywhere_never_crashes(payload: str, at: int, junk: bytes) -> None:
    card = render_badge_svg(name="n", issuer="i", earner="e", revoked=False).encode()
    baked = refused_or_read("svg", lambda: bake_svg(card, payload or "x"))
    if isinstance(baked, bytes):
        at %= len(baked)
        refused_or_read("svg", lambda: unbake(baked[:at] + junk + baked[at + 1 :]))


def test_carrier_bombs_are_refused_within_bounded_memory() -> None:
    head, body, tail = _png_parts()
    inflating = zlib.compress(b"\0" * (64 * MIB), 9)  # 64 KiB that inflates to 64 MiB
    bomb = head + _chunk(b"zTXt", OB3_PNG_KEYWORD + b"\0\0" + inflating) + body + tail
    assert peak_bytes(lambda: unbake(bomb)) < 8 * MIB
    many = head + _chunk(b"abcd", b"") * 200_000 + body + tail
    assert peak_bytes(lambda: unbake(many)) < 32 * MIB
    nested = b"<svg>" + b"<g>" * 500_000 + b"</g>" * 500_000 + b"</svg>"
    assert peak_bytes(lambda: unbake(nested)) < 32 * MIB


# -- VC-JWT ----------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_JWKS = st.fixed_dictionaries(
    {},
    optional={
        "kty": st.sampled_from(["OKP", "EC", "RSA", "oct", ""]),
        "crv": st.sampled_from(["Ed25519", "P-256", "X25519", ""]),
        "x": st.binary(max_size=40).map(_b64url) | st.text(max_size=8),
        "y": st.binary(max_size=40).map(_b64url),
        "n": st.binary(max_size=64).map(_b64url),
        "e": st.sampled_from(["AQAB", "", "AA", "!"]),
        "alg": st.sampled_from(["EdDSA", "ES256", "RS256", "none"]),
        "use": st.sampled_from(["sig", "enc"]),
    },
)
_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["EdDSA", "ES256", "RS256", "none", "HS256"]) | st.integers(),
        "jwk": _JWKS | JSON_VALUES,
        "kid": st.text(max_size=20),
        "crit": st.lists(st.text(max_size=5), max_size=2) | st.integers(),
        "b64": st.booleans(),
    },
)
_PAYLOADS = st.fixed_dictionaries(
    {},
    optional={
        "@context": st.just(["https://www.w3.org/ns/credentials/v2"]) | JSON_VALUES,
        "vc": JSON_VALUES | st.dictionaries(st.text(max_size=4), JSON_VALUES, max_size=3),
        "iss": JSON_VALUES,
        "nbf": JSON_VALUES,
        "exp": JSON_VALUES,
    },
)
_JWT_PARTS = st.one_of(
    st.builds(lambda v: _b64url(json.dumps(v).encode()), _HEADERS | _PAYLOADS | JSON_VALUES),
    st.binary(max_size=80).map(_b64url),
    st.text(max_size=12),
)


@FUZZ
@given(st.lists(_JWT_PARTS, min_size=1, max_size=4).map(".".join))
def test_vc_jwt_parsing_never_crashes(token: str) -> None:
    jws = refused_or_read("jwt", lambda: jose.parse_compact_jws(token))
    if isinstance(jws, jose.Jws):
        refused_or_read("jwt", lambda: jose.credential_from_jwt(jws))
        refused_or_read("jwt", lambda: jose.verify_jws_with_header_jwk(jws))


@FUZZ
@given(_HEADERS, _PAYLOADS, st.binary(max_size=300))
def test_vc_jwt_keys_and_signatures_never_crash(header: Any, payload: Any, sig: bytes) -> None:
    token = ".".join(
        _b64url(part) for part in (json.dumps(header).encode(), json.dumps(payload).encode(), sig)
    )
    jws = refused_or_read("jwt", lambda: jose.parse_compact_jws(token))
    if isinstance(jws, jose.Jws):
        refused_or_read("jwt", lambda: jose.verify_jws_with_header_jwk(jws))


# -- BNS values (msgpack) --------------------------------------------------------------------

_SIZES = st.sampled_from([0, 1, 20, 32, 64, 65])
MSGPACK_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.text(max_size=20)
    | _SIZES.flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    lambda inner: st.lists(inner, max_size=7),
    max_leaves=25,
)
# Shaped like a BNS value: led by a version number, fields of the right kinds of sizes.
_VERSIONED = st.builds(
    lambda v, rest: [v, *rest], st.sampled_from([1, 2, 0]), st.lists(MSGPACK_VALUES, max_size=8)
)


def _packed(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


@FUZZ
@given(st.binary(max_size=1300) | (MSGPACK_VALUES | _VERSIONED).map(_packed))
def test_bns_values_never_crash(data: bytes) -> None:
    refused_or_read("bns", lambda: wire.unpack(data))
    refused_or_read("bns", lambda: Record.from_wire_bytes(data))
    refused_or_read("bns", lambda: decode_value(data))
    policy = BnsValues()
    refused_or_read("bns", lambda: policy.accept(bytes(32), None, data))


def test_a_deeply_nested_msgpack_value_is_refused() -> None:
    deep = b"\x91" * 1100 + b"\xc0"  # 1,100 nested one-element arrays
    for parse in (wire.unpack, Record.from_wire_bytes, decode_value):
        result = refused_or_read("bns", lambda parse=parse: parse(deep))  # type: ignore[misc]
        assert isinstance(result, BadgeChainError)


# -- DHT datagrams ---------------------------------------------------------------------------


class DatagramTarget:
    """A DHT node listening on 127.0.0.1 whose datagram handler is fed directly."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _, context: self.errors.append(context))
        key = KeyPair.generate()
        self.node = DhtNode(key.public_key, MemoryStore(), BnsValues(), TEST_SETTINGS)
        self.loop.run_until_complete(self.node.listen(0, "127.0.0.1"))
        sender = KeyPair.generate().public_key
        self.sender = [sender, solve_id_puzzle(sender, TEST_ID_DIFFICULTY)]

    def feed(self, data: bytes, host: str) -> None:
        """One datagram from `host` port 9 (discard: an answer goes nowhere), then let what
        it started run a step."""
        RAN["datagram"] += 1
        dropped = self.node.stats["datagrams_dropped"]
        self.loop.run_until_complete(self._feed(data, (host, 9)))
        RAN["datagram served"] += self.node.stats["datagrams_dropped"] == dropped

    async def _feed(self, data: bytes, source: tuple[str, int]) -> None:
        self.node.protocol.datagram_received(data, source)  # in the loop, as a socket calls it
        await asyncio.sleep(0)

    def close(self) -> None:
        self.loop.run_until_complete(self.node.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def target() -> Iterator[DatagramTarget]:
    dht = DatagramTarget()
    yield dht
    print(f"\ndatagram fuzz: the node's counters {dict(dht.node.stats)}")
    dht.close()
    assert not dht.errors, dht.errors[:3]


_METHODS = st.sampled_from(["ping", "store", "find_node", "find_value"])
_NOT_METHODS = st.sampled_from(["unknown", "", "PING"]) | MSGPACK_VALUES
_MOSTLY = st.sampled_from([True, True, True, False])  # well formed, mostly: to go deep


@st.composite
def datagrams(draw: st.DrawFn, sender: list[bytes]) -> bytes:
    kind = draw(st.sampled_from([b"\x02"] * 6 + [b"\x03", b"\x00", b"\x01"]))  # mostly requests
    msg_id = draw(st.binary(min_size=20, max_size=20))
    if not draw(_MOSTLY):
        return kind + msg_id + draw(st.binary(max_size=1500))
    method = draw(_METHODS) if draw(_MOSTLY) else draw(_NOT_METHODS)
    args = [sender if draw(_MOSTLY) else draw(MSGPACK_VALUES)]
    address = st.binary(min_size=ID_BYTES, max_size=ID_BYTES) | st.binary(max_size=33)
    value = (MSGPACK_VALUES | _VERSIONED).map(_packed) | st.binary(max_size=1300)
    if draw(_MOSTLY):  # the arguments the method takes: (), (address) or (address, value)
        args += [draw(address)] * (method in ("store", "find_node", "find_value"))
        args += [draw(value)] * (method == "store")
    else:
        args += draw(st.lists(address | value | MSGPACK_VALUES, max_size=3))
    message: list[Any] = [method, args]
    if draw(st.booleans()):
        message.append(draw(st.binary(max_size=200)))  # padding
    return kind + msg_id + _packed(message)


@FUZZ
@given(data=st.data())
def test_dht_datagrams_never_crash(target: DatagramTarget, data: st.DataObject) -> None:
    datagram = data.draw(datagrams(target.sender))
    # Many loopback sources, so that the per-address limits leave most requests served.
    target.feed(datagram, str(data.draw(st.ip_addresses(network="127.0.0.0/8"))))
    assert not target.errors, target.errors[:3]


# -- whole badges (chain/verify.py: what POST /verify and the inbox run) ----------------------

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def _signed_badge() -> dict[str, Any]:
    issuer, earner = KeyPair.from_seed(bytes(32)), KeyPair.from_seed(bytes(range(32)))
    achievement = build_achievement(
        issuer.did, achievement_id="urn:uuid:1", name="n", description="d", criteria="c"
    )
    credential = build_credential(
        issuer_did=issuer.did,
        subject_id=earner.did,
        achievement=achievement,
        valid_from=NOW - dt.timedelta(days=1),
        credential_id="urn:uuid:2",
    )
    return sign_credential(credential, issuer, created=NOW - dt.timedelta(days=1))


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, inner in items:
            yield from _paths(inner, (*path, key))


@st.composite
def damaged_badges(draw: st.DrawFn) -> bytes:
    """A signed badge with one to three parts replaced, removed or added."""
    badge = _signed_badge()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(badge))[1:]))
        parent = badge
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "remove":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["id", "type", "@context", "proof", "x"]))] = draw(
                JSON_VALUES
            )
        else:
            parent[path[-1]] = draw(JSON_VALUES)
        if not badge:
            break
    return json.dumps(badge).encode()


@FUZZ
@given(damaged_badges())
def test_a_damaged_badge_gets_a_report(data: bytes) -> None:
    RAN["badge"] += 1
    report = verify_badge(data, now=NOW)  # never raises: every failure is in the report
    assert report.verdict in ("valid", "invalid", "indeterminate")
    # Found by this fuzz: a `proof` that is not an object (or a list of them) made the
    # Blockcerts detector raise, reported as `input: internal_error`; now a proof failure.
    assert all(check.code != "internal_error" for check in report.checks), report.to_json()


def test_the_undamaged_badge_is_valid() -> None:
    report = verify_badge(json.dumps(_signed_badge()).encode(), now=NOW)
    assert report.verdict in ("valid", "indeterminate"), report.to_json()


# -- node log entries (a crawler reads other nodes' /log) -----------------------------------


@FUZZ
@given(st.fixed_dictionaries(dict.fromkeys(ENTRY_FIELDS, JSON_VALUES)) | JSON_VALUES)
def test_log_entries_never_crash(entry: Any) -> None:
    refused_or_read("log", lambda: check_entry(entry))


def test_input_too_large_is_a_badge_chain_error() -> None:
    """The parsers' size refusals are the documented error (a 413 at the gateway)."""
    too_big = b"x" * (wire.MAX_VALUE_BYTES + 1)
    assert isinstance(refused_or_read("bns", lambda: wire.unpack(too_big)), BadgeChainError)
    assert issubclass(InputTooLarge, BadgeChainError) and InputTooLarge.http_status == 413
