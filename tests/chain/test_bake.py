"""Baking and unbaking PNG and SVG badges: peer files, round trips, hostile input."""

from __future__ import annotations

import io
import json
import re
import struct
import tracemalloc
import zlib
from pathlib import Path
from xml.etree import ElementTree

import png
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from badgechain.chain.bake import (
    MAX_IMAGE_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_PNG_CHUNKS,
    MAX_SVG_DEPTH,
    OB3_SVG_NAMESPACE,
    Encoding,
    Unbaked,
    bake_png,
    bake_svg,
    unbake,
)
from badgechain.chain.errors import BadgeChainError, DecodeError, InputTooLarge

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)
CREDENTIAL = json.dumps({"@context": ["https://www.w3.org/ns/credentials/v2"], "id": "urn:x:1"})
OTHER_CREDENTIAL = json.dumps(
    {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": "urn:x:2"}
)
JWT = "eyJhbGciOiJFZERTQSJ9.eyJpZCI6InVybjp4OjEifQ.c2lnbmF0dXJl"
OB3_TAG = f"{{{OB3_SVG_NAMESPACE}}}credential"
PLAIN_SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="4"><rect/></svg>\n'
)

Chunk = tuple[bytes, bytes]


# --- helpers -------------------------------------------------------------------------------


def make_png(extra: list[Chunk] | None = None, *, after_idat: list[Chunk] | None = None) -> bytes:
    """A 5x4 RGB image from pypng, with optional chunks before and after its IDAT."""
    rows = [[(x * 40 + y * 7 + c * 3) % 256 for x in range(5) for c in range(3)] for y in range(4)]
    plain = io.BytesIO()
    png.Writer(5, 4, greyscale=False).write(plain, rows)
    chunks = read_chunks(plain.getvalue())
    idat = next(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    chunks[idat:idat] = extra or []
    chunks[-1:-1] = after_idat or []
    return write_chunks(chunks)


def read_chunks(data: bytes) -> list[Chunk]:
    return [(bytes(kind), bytes(body)) for kind, body in png.Reader(bytes=data).chunks()]


def write_chunks(chunks: list[Chunk]) -> bytes:
    out = io.BytesIO()
    png.write_chunks(out, chunks)
    return out.getvalue()


def itxt(keyword: bytes, text: bytes, *, flag: int = 0, method: int = 0) -> Chunk:
    return b"iTXt", keyword + b"\0" + bytes([flag, method]) + b"\0\0" + text


def pixel_rows(data: bytes) -> list[list[int]]:
    _, _, rows, _ = png.Reader(bytes=data).read()
    return [list(row) for row in rows]


def credential_chunks(data: bytes) -> list[bytes]:
    return [body for kind, body in read_chunks(data) if body.startswith(b"openbadgecredential\0")]


def parse_svg(data: bytes) -> ElementTree.Element:
    """Parse our own baked output (no DTD) with a second, independent XML reader."""
    return ElementTree.fromstring(data)  # noqa: S314  trusted test data, entity-free


def svg_credentials(data: bytes) -> list[ElementTree.Element]:
    root = parse_svg(data)
    return [element for element in root.iter() if element.tag == OB3_TAG]


def code_of(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises(BadgeChainError) as caught:
        call(*args)
    return caught.value.code


@pytest.fixture
def peers(shared_dir: Path) -> Path:
    return shared_dir / "interop" / "peers"


@pytest.fixture
def ob30(peers: Path) -> Path:
    return peers / "1edtech-inspector" / "ob30"


# --- 1EdTech OB 3.0 baked images ------------------------------------------------------------


def png_text_of(path: Path) -> str:
    """The openbadgecredential text read with pypng alone, to compare unbake against."""
    (body,) = credential_chunks(path.read_bytes())
    assert body[19:24] == b"\0\0\0\0\0"  # uncompressed, no language, no translation
    return body[24:].decode().strip()


def svg_verify_of(path: Path) -> str:
    match = re.search(rb'<openbadges:credential verify="([^"]+)"', path.read_bytes())
    assert match is not None
    return match.group(1).decode()


def test_1edtech_json_png_and_svg_carry_the_same_credential(ob30: Path) -> None:
    from_png = unbake((ob30 / "simple-json.png").read_bytes())
    from_svg = unbake((ob30 / "simple-json.svg").read_bytes())
    assert (from_png.container, from_png.kind, from_png.encoding) == ("png", "ob3", "json")
    assert (from_svg.container, from_svg.kind, from_svg.encoding) == ("svg", "ob3", "json")
    assert from_png.payload == png_text_of(ob30 / "simple-json.png")
    credential = json.loads(from_png.payload)
    assert json.loads(from_svg.payload) == credential
    assert credential["id"] == "http://example.com/credentials/3527"
    assert "OpenBadgeCredential" in credential["type"]


@pytest.mark.parametrize("name", ["simple-jwt", "simple-jwt_v1"])
def test_1edtech_jwt_images_carry_the_compact_jws(ob30: Path, name: str) -> None:
    from_png = unbake((ob30 / f"{name}.png").read_bytes())
    from_svg = unbake((ob30 / f"{name}.svg").read_bytes())
    assert (from_png.kind, from_png.encoding, from_svg.encoding) == ("ob3", "jwt", "jwt")
    assert from_png.payload == png_text_of(ob30 / f"{name}.png")
    assert from_svg.payload == svg_verify_of(ob30 / f"{name}.svg")
    assert from_png.payload.count(".") == 2


def test_1edtech_credential_chunk_after_idat_is_found_and_replaced(ob30: Path) -> None:
    original = (ob30 / "simple-json.png").read_bytes()
    kinds = [kind for kind, _ in read_chunks(original)]
    assert kinds.index(b"iTXt") > kinds.index(b"IDAT")  # the case the brief calls out
    rebaked = bake_png(original, JWT)
    assert len(credential_chunks(rebaked)) == 1
    assert unbake(rebaked) == Unbaked("png", "ob3", "jwt", JWT)
    assert [b for k, b in read_chunks(rebaked) if k == b"tEXt"] == [
        b for k, b in read_chunks(original) if k == b"tEXt"
    ]


def test_1edtech_svg_rebaked_holds_one_credential(ob30: Path) -> None:
    original = (ob30 / "simple-json.svg").read_bytes()
    rebaked = bake_svg(original, JWT)
    assert [element.get("verify") for element in svg_credentials(rebaked)] == [JWT]
    start_tag_end = root_tag_end(original)  # prolog, DOCTYPE and root tag (namespace bound) kept
    assert rebaked[:start_tag_end] == original[:start_tag_end]
    old_end = original.index(b"</openbadges:credential>") + len(b"</openbadges:credential>")
    assert rebaked.endswith(original[old_end:])
    assert unbake(rebaked).payload == JWT


# --- OB 2.0 and unbaked peer images ---------------------------------------------------------

OB2_FILES = [
    (
        "1edtech-inspector/ob20/simple-badge.png",
        "json",
        "https://example.org/beths-robotics-badge.json",
    ),
    ("validator-core/baked_heart.png", "json", None),
    ("badgr-server/backpack/baked_image.png", "json", "123abc"),
    ("mozilla-backpack/valid-baked.png", "url", "https://example.org/assertion"),
    ("mozilla-backpack/404.png", "url", "https://example.org/404"),
    ("mozilla-bakery/baked.svg", "json", "http://example.org"),
    ("mozilla-bakery/no-json.svg", "url", "http://example.org"),
    ("mozilla-bakery/bad-json.svg", "url", "http://example.org"),  # bad CDATA: verify attribute
]


@pytest.mark.parametrize(("name", "encoding", "marker"), OB2_FILES)
def test_ob2_baked_images_are_recognised(
    peers: Path, name: str, encoding: str, marker: str | None
) -> None:
    found = unbake((peers / name).read_bytes())
    assert (found.kind, found.encoding, found.container) == ("ob2", encoding, name[-3:])
    if encoding == "json":
        assert isinstance(json.loads(found.payload), dict)
    if marker is not None:
        assert marker in found.payload


@pytest.mark.parametrize(
    "name",
    [
        "1edtech-inspector/ob20/assets/robotics-badge.png",
        "validator-core/public_domain_heart.png",
        "mozilla-bakery/unbaked.png",
        "mozilla-bakery/unbaked.svg",
        "mozilla-backpack/unbaked.png",
        "badgr-server/backpack/unbaked_image.png",
        "badgr-server/issuer/guinea_pig_testing_badge.png",  # an XMP iTXt to skip
        "badgr-server/issuer/test_badgeclass.svg",
        "badgr-server/issuer/hacked-svg-with-embedded-script-tags.svg",
    ],
)
def test_unbaked_peer_images_are_not_baked(peers: Path, name: str) -> None:
    assert code_of(unbake, (peers / name).read_bytes()) == "not_baked"


def test_a_json_file_named_png_is_refused(peers: Path) -> None:
    data = (peers / "badgr-server" / "backpack" / "bad_image.png").read_bytes()
    assert code_of(unbake, data) == "format_unknown"
    assert code_of(bake_png, data, CREDENTIAL) == "png_invalid"


def test_ob3_wins_over_an_ob2_assertion_in_the_same_image(peers: Path) -> None:
    baked = bake_png((peers / "validator-core" / "baked_heart.png").read_bytes(), CREDENTIAL)
    assert unbake(baked) == Unbaked("png", "ob3", "json", CREDENTIAL)


# --- PNG round trips ------------------------------------------------------------------------


def test_png_round_trip_keeps_pixels_and_other_chunks(peers: Path) -> None:
    original = (peers / "validator-core" / "public_domain_heart.png").read_bytes()
    baked = bake_png(original, CREDENTIAL)
    assert unbake(baked) == Unbaked("png", "ob3", "json", CREDENTIAL)
    assert pixel_rows(baked) == pixel_rows(original)
    others = [chunk for chunk in read_chunks(baked) if chunk[0] != b"iTXt"]
    assert others == read_chunks(original)


def test_png_chunk_is_uncompressed_itxt_just_before_the_first_idat() -> None:
    baked = bake_png(make_png(), CREDENTIAL)
    chunks = read_chunks(baked)
    position = next(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT") - 1
    assert chunks[position] == (b"iTXt", b"openbadgecredential\0\0\0\0\0" + CREDENTIAL.encode())


def test_png_baking_inserts_one_chunk_and_keeps_every_other_byte() -> None:
    image = make_png([(b"tEXt", b"Software\0paint")])
    first_idat = image.index(b"IDAT") - 4  # the chunk starts with its length
    baked = bake_png(image, CREDENTIAL)
    chunk = baked[first_idat : len(baked) - (len(image) - first_idat)]
    assert baked == image[:first_idat] + chunk + image[first_idat:]
    length, kind = struct.unpack(">I4s", chunk[:8])
    body, crc = chunk[8 : 8 + length], chunk[8 + length :]
    assert (kind, body) == (b"iTXt", b"openbadgecredential\0\0\0\0\0" + CREDENTIAL.encode())
    assert crc == zlib.crc32(body, zlib.crc32(kind)).to_bytes(4, "big")
    assert bake_png(image, CREDENTIAL) == baked  # the cut image is reused: same bytes


def test_png_with_a_broken_crc_is_not_baked() -> None:
    image = bytearray(make_png([(b"tEXt", b"Software\0paint")]))
    image[image.index(b"Software")] ^= 0x01
    assert code_of(bake_png, bytes(image), CREDENTIAL) == "png_invalid"


def test_png_rebaking_replaces_the_credential() -> None:
    twice = bake_png(bake_png(make_png(), CREDENTIAL), OTHER_CREDENTIAL)
    assert len(credential_chunks(twice)) == 1
    assert unbake(twice).payload == OTHER_CREDENTIAL
    assert twice == bake_png(make_png(), OTHER_CREDENTIAL)
    assert pixel_rows(twice) == pixel_rows(make_png())


def test_png_rebaking_drops_credential_chunks_wherever_they_stand() -> None:
    stale = itxt(b"openbadgecredential", CREDENTIAL.encode())
    image = make_png([stale], after_idat=[stale, (b"tEXt", b"openbadgecredential\0old")])
    assert len(credential_chunks(image)) == 3
    assert credential_chunks(bake_png(image, JWT)) == [
        b"openbadgecredential\0\0\0\0\0" + JWT.encode()
    ]


def test_png_reading_skips_unrelated_text_and_refuses_two_credentials() -> None:
    unrelated = [(b"tEXt", b"Software\0paint"), itxt(b"XML:com.adobe.xmp", b"<x/>")]
    image = make_png(unrelated, after_idat=[itxt(b"openbadgecredential", JWT.encode())])
    assert unbake(image) == Unbaked("png", "ob3", "jwt", JWT)
    # Whichever a reader meets first must not decide what the badge says (issue 10).
    for second in (itxt(b"openbadgecredential", b"{}"), (b"tEXt", b"openbadges\0http://a.b/c")):
        two = make_png(unrelated, after_idat=[itxt(b"openbadgecredential", JWT.encode()), second])
        assert code_of(unbake, two) == "carrier_ambiguous"


def test_png_compressed_itxt_is_inflated() -> None:
    chunk = itxt(b"openbadgecredential", zlib.compress(CREDENTIAL.encode()), flag=1)
    assert unbake(make_png([chunk])).payload == CREDENTIAL


def test_png_ob2_legacy_text_chunk_is_read_as_latin1() -> None:
    image = make_png([(b"tEXt", b"openbadges\0https://example.org/a\xe9")])
    assert unbake(image) == Unbaked("png", "ob2", "url", "https://example.org/aé")


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=40), max_size=6))
@FUZZ
def test_any_json_object_round_trips_through_png_and_svg(value: dict[str, str]) -> None:
    payload = json.dumps(value, ensure_ascii=False)
    assert unbake(bake_png(make_png(), payload)).payload == payload
    assert unbake(bake_svg(PLAIN_SVG, payload)).payload == payload


# --- SVG round trips ------------------------------------------------------------------------


def root_tag_end(svg: bytes) -> int:
    return svg.index(b">", svg.index(b"<svg")) + 1


@pytest.mark.parametrize(("payload", "encoding"), [(CREDENTIAL, "json"), (JWT, "jwt")])
def test_svg_bake_puts_the_credential_first_and_keeps_the_rest(
    peers: Path, payload: str, encoding: Encoding
) -> None:
    original = (peers / "mozilla-bakery" / "unbaked.svg").read_bytes()
    baked = bake_svg(original, payload)
    assert unbake(baked) == Unbaked("svg", "ob3", encoding, payload)
    root = parse_svg(baked)
    assert root[0].tag == OB3_TAG
    assert (root[0].get("verify"), root[0].text) == (
        (JWT, None) if encoding == "jwt" else (None, payload)
    )
    assert baked.endswith(original[root_tag_end(original) :])
    assert baked.startswith(original[: original.index(b"<svg") + 4] + b' xmlns:openbadges="')


def test_svg_rebaking_replaces_and_is_stable() -> None:
    once = bake_svg(PLAIN_SVG, CREDENTIAL)
    twice = bake_svg(once, JWT)
    assert [element.get("verify") for element in svg_credentials(twice)] == [JWT]
    assert twice == bake_svg(PLAIN_SVG, JWT)
    assert bake_svg(twice, CREDENTIAL) == once


def test_svg_cdata_terminator_inside_the_json_survives() -> None:
    payload = json.dumps({"@context": [], "note": "a]]>b"})
    assert unbake(bake_svg(PLAIN_SVG, payload)).payload == payload


def test_svg_with_an_empty_root_element_gets_a_closing_tag() -> None:
    baked = bake_svg(b'<svg xmlns="http://www.w3.org/2000/svg" />', CREDENTIAL)
    assert baked.endswith(b"</openbadges:credential></svg>")
    assert unbake(baked).payload == CREDENTIAL


@pytest.mark.parametrize(
    "svg",
    [
        b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\r\n<svg\r\n a=">"\r\n/>',
        b'<s:svg xmlns:s="http://www.w3.org/2000/svg"><s:g/></s:svg>',
    ],
)
def test_svg_bom_crlf_and_prefixed_roots(svg: bytes) -> None:
    payload = json.dumps({"name": "é ü"}, ensure_ascii=False)
    baked = bake_svg(svg, payload)
    assert parse_svg(baked)[0].tag == OB3_TAG
    assert unbake(baked).payload == payload


def test_svg_baked_with_ob2_declares_the_ob3_namespace_on_the_element(peers: Path) -> None:
    baked = bake_svg((peers / "mozilla-bakery" / "baked.svg").read_bytes(), CREDENTIAL)
    root = parse_svg(baked)
    assert root[0].tag == OB3_TAG
    assert root.find("{http://openbadges.org}assertion") is None  # one credential per image
    assert unbake(baked).kind == "ob3"


def test_svg_ob3_element_anywhere_is_read() -> None:
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:ob="https://purl.imsglobal.org/ob/v3p0">'
        b'<g><ob:credential verify="' + JWT.encode() + b'"/></g></svg>'
    )
    assert unbake(svg) == Unbaked("svg", "ob3", "jwt", JWT)
    assert [element.get("verify") for element in svg_credentials(bake_svg(svg, JWT))] == [JWT]


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("hello", "payload_invalid"),
        ("[1, 2]", "payload_invalid"),
        ("{not json", "json_invalid"),
        ("a.b", "payload_invalid"),
        ("{}\ud800", "payload_not_utf8"),
    ],
)
def test_bake_refuses_payloads_that_are_not_credentials(payload: str, code: str) -> None:
    assert code_of(bake_png, make_png(), payload) == code
    assert code_of(bake_svg, PLAIN_SVG, payload) == code


def test_bake_refuses_oversized_input() -> None:
    huge_payload = json.dumps({"x": "a" * MAX_PAYLOAD_BYTES})
    with pytest.raises(InputTooLarge):
        bake_png(make_png(), huge_payload)
    with pytest.raises(InputTooLarge):
        bake_svg(PLAIN_SVG, huge_payload)
    with pytest.raises(InputTooLarge):
        bake_png(make_png() + b"\0" * MAX_IMAGE_BYTES, CREDENTIAL)
    padded = PLAIN_SVG.replace(
        b"<rect/>", b"<rect/>" + b" " * (MAX_IMAGE_BYTES - len(PLAIN_SVG) - 5)
    )
    with pytest.raises(InputTooLarge):  # fits alone, not with the credential
        bake_svg(padded, CREDENTIAL)


def test_bake_refuses_images_of_the_wrong_kind() -> None:
    no_idat = write_chunks([chunk for chunk in read_chunks(make_png()) if chunk[0] != b"IDAT"])
    assert code_of(bake_png, no_idat, CREDENTIAL) == "png_invalid"
    assert code_of(bake_png, PLAIN_SVG, CREDENTIAL) == "png_invalid"
    assert code_of(bake_svg, make_png(), CREDENTIAL) == "svg_invalid"
    assert code_of(bake_svg, b"<html><body/></html>", CREDENTIAL) == "svg_invalid"
    latin = b'<?xml version="1.0" encoding="ISO-8859-1"?><svg/>'
    assert code_of(bake_svg, latin, CREDENTIAL) == "svg_encoding_unsupported"


# --- hostile PNG ----------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [-1, -4, -13, -100, 40])
def test_truncated_png_is_refused(keep: int) -> None:
    baked = bake_png(make_png(), CREDENTIAL)
    assert code_of(unbake, baked[:keep]) == "png_truncated"


def test_png_chunk_claiming_2gb_fails_fast_without_allocating() -> None:
    head = make_png()[: 8 + 25]  # signature + IHDR
    forged = head + struct.pack(">I4s", 2**31 - 1, b"iTXt") + b"openbadgecredential\0" * 10
    tracemalloc.start()
    try:
        assert code_of(unbake, forged) == "png_truncated"
        assert code_of(bake_png, forged, CREDENTIAL) == "png_truncated"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024
    beyond = head + struct.pack(">I4s", 2**32 - 1, b"iTXt") + b"x" * 64
    assert code_of(unbake, beyond) == "png_invalid"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x89PNG\r\n\x1a\n", "png_truncated"),
        (
            b"\x89PNG\r\n\x1a\n" + struct.pack(">I4s", 0, b"IEND") + b"\xae\x42\x60\x82",
            "png_invalid",
        ),
        (b"\x89PNG\r\n\x1a\n" + struct.pack(">I4s", 13, b"IH!R") + b"\0" * 17, "png_invalid"),
    ],
)
def test_malformed_png_structure_is_refused(data: bytes, code: str) -> None:
    assert code_of(unbake, data) == code


def test_png_with_too_many_chunks_is_refused_quickly() -> None:
    filler = [(b"tEXt", b"a\0b")] * MAX_PNG_CHUNKS
    with pytest.raises(InputTooLarge):
        unbake(make_png(filler))
    assert code_of(unbake, make_png(filler[:-10])) == "not_baked"


def test_png_crc_mismatch_is_refused() -> None:
    baked = bytearray(bake_png(make_png(), CREDENTIAL))
    baked[baked.index(b"openbadgecredential") + 30] ^= 0x01
    assert code_of(unbake, bytes(baked)) == "png_invalid"


@pytest.mark.parametrize(
    ("chunk", "code"),
    [
        (itxt(b"openbadgecredential", b'{"a": "\xff\xfe"}'), "payload_not_utf8"),
        (itxt(b"openbadgecredential", b"hello"), "payload_invalid"),
        ((b"iTXt", b"openbadgecredential\0\0"), "png_text_invalid"),
        ((b"iTXt", b"openbadgecredential\0"), "png_text_invalid"),
        (itxt(b"openbadgecredential", b"{}", flag=2), "png_text_invalid"),
        (itxt(b"openbadgecredential", b"not zlib", flag=1), "png_text_invalid"),
        (itxt(b"openbadgecredential", zlib.compress(b"{}")[:-3], flag=1), "png_text_invalid"),
        (itxt(b"openbadges", b"ftp://example.org/a"), "payload_invalid"),
    ],
)
def test_bad_credential_text_is_refused(chunk: Chunk, code: str) -> None:
    assert code_of(unbake, make_png([chunk])) == code


def test_zlib_bomb_stops_at_the_payload_limit() -> None:
    packer = zlib.compressobj(9)
    block = b" " * (1024 * 1024)
    bomb = packer.compress(b"{") + b"".join(packer.compress(block) for _ in range(64))
    bomb += packer.flush()
    assert len(bomb) < 128 * 1024
    image = make_png([itxt(b"openbadgecredential", bomb, flag=1)])
    tracemalloc.start()
    try:
        with pytest.raises(InputTooLarge):
            unbake(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MAX_PAYLOAD_BYTES


def test_uncompressed_payload_over_the_limit_is_refused() -> None:
    chunk = itxt(b"openbadgecredential", b"{" + b" " * MAX_PAYLOAD_BYTES + b"}")
    with pytest.raises(InputTooLarge):
        unbake(make_png([chunk]))


def test_oversized_input_is_refused_before_reading() -> None:
    with pytest.raises(InputTooLarge):
        unbake(make_png() + b"\0" * MAX_IMAGE_BYTES)
    with pytest.raises(InputTooLarge):
        unbake(PLAIN_SVG + b" " * MAX_IMAGE_BYTES)


# --- hostile SVG ----------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE svg [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&lol3;</text></svg>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>"""
UNDECLARED_ENTITY = b"""<!DOCTYPE svg SYSTEM "file:///etc/passwd">
<svg xmlns="http://www.w3.org/2000/svg"><text>&secret;</text></svg>"""


@pytest.mark.parametrize("svg", [BILLION_LAUGHS, EXTERNAL_ENTITY, UNDECLARED_ENTITY])
def test_svg_entities_are_refused(svg: bytes) -> None:
    assert code_of(unbake, svg) == "svg_entities_forbidden"
    assert code_of(bake_svg, svg, CREDENTIAL) == "svg_entities_forbidden"


def test_svg_nested_too_deep_is_refused_without_recursion() -> None:
    depth = MAX_SVG_DEPTH * 40
    svg = b'<svg xmlns="http://www.w3.org/2000/svg">' + b"<g>" * depth + b"</g>" * depth + b"</svg>"
    with pytest.raises(InputTooLarge):
        unbake(svg)
    fits = b"<g>" * (MAX_SVG_DEPTH - 1) + b"</g>" * (MAX_SVG_DEPTH - 1)
    assert (
        code_of(unbake, b'<svg xmlns="http://www.w3.org/2000/svg">' + fits + b"</svg>")
        == "not_baked"
    )


@pytest.mark.parametrize(
    ("svg", "code"),
    [
        (b"<svg><g></svg>", "svg_invalid"),
        (b"<html/>", "svg_invalid"),
        ("<svg/>".encode("utf-16"), "svg_encoding_unsupported"),
        (b"GIF89a", "format_unknown"),
        (b"", "format_unknown"),
        (
            b'<svg xmlns:o="https://purl.imsglobal.org/ob/v3p0"><o:credential>hi</o:credential></svg>',
            "payload_invalid",
        ),
        (
            b'<svg xmlns:o="https://purl.imsglobal.org/ob/v3p0"><o:credential/></svg>',
            "payload_invalid",
        ),
    ],
)
def test_malformed_svg_is_refused(svg: bytes, code: str) -> None:
    assert code_of(unbake, svg) == code


# --- fuzzing --------------------------------------------------------------------------------


def unbake_or_refuse(data: bytes) -> None:
    """Unbake must return, or raise a BadgeChainError: never any other exception."""
    try:
        found = unbake(data)
    except (DecodeError, InputTooLarge):
        return
    assert isinstance(found, Unbaked)


@given(st.binary(max_size=512))
@FUZZ
def test_fuzz_random_bytes(data: bytes) -> None:
    unbake_or_refuse(data)
    unbake_or_refuse(b"\x89PNG\r\n\x1a\n" + data)
    unbake_or_refuse(b"<svg>" + data)


@given(st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8))
@FUZZ
def test_fuzz_mutated_png_bytes(edits: list[tuple[int, int]]) -> None:
    data = bytearray(bake_png(make_png(), CREDENTIAL))
    for position, value in edits:
        data[position % len(data)] = value
    unbake_or_refuse(bytes(data))
    unbake_or_refuse(bytes(data[: edits[0][0] % len(data)]))


@given(
    st.sampled_from([b"iTXt", b"tEXt", b"zTXt", b"IDAT", b"IHDR"]),
    st.sampled_from([b"openbadgecredential\0", b"openbadges\0", b""]),
    st.binary(max_size=256),
)
@FUZZ
def test_fuzz_well_formed_chunks_with_random_bodies(
    kind: bytes, prefix: bytes, body: bytes
) -> None:
    unbake_or_refuse(make_png([(kind, prefix + body)]))


@given(st.text(max_size=200))
@FUZZ
def test_fuzz_svg_text(inner: str) -> None:
    head = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:o="https://purl.imsglobal.org/ob/v3p0">'
    unbake_or_refuse(f"{head}<o:credential>{inner}</o:credential></svg>".encode("utf-8", "replace"))
    unbake_or_refuse(f"{head}{inner}</svg>".encode("utf-8", "replace"))
