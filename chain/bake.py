"""Baking and unbaking: a credential carried inside its PNG or SVG badge image.

Implements Open Badges 3.0 section "Baking" and recognises OB 2.0 and older baking (iTXt, tEXt
and zTXt `openbadges`; `<openbadges:assertion>` with JSON content or a `verify` URL); pixels are
never decoded. An image that carries more than one credential is refused (`carrier_ambiguous`):
which one a verifier reads first must never decide what the badge says.
"""

from __future__ import annotations

import functools
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Literal
from xml.parsers import expat

import png

from .errors import DecodeError, InputTooLarge
from .jsonio import parse_json

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_PNG_CHUNKS",
    "MAX_SVG_DEPTH",
    "OB2_PNG_KEYWORD",
    "OB2_SVG_NAMESPACE",
    "OB3_PNG_KEYWORD",
    "OB3_SVG_NAMESPACE",
    "Container",
    "Encoding",
    "Kind",
    "Unbaked",
    "bake_png",
    "bake_svg",
    "unbake",
]

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_SVG_DEPTH = 256  # real badge art nests a few dozen levels at most
# libpng writes 8 KiB IDAT chunks: 1,280 for a 10 MiB image. pypng spends ~10 us per chunk,
# so a file of 600,000 empty chunks would otherwise cost seconds.
MAX_PNG_CHUNKS = 10_000

OB3_PNG_KEYWORD = b"openbadgecredential"
OB2_PNG_KEYWORD = b"openbadges"
OB3_SVG_NAMESPACE = "https://purl.imsglobal.org/ob/v3p0"
OB2_SVG_NAMESPACE = "http://openbadges.org"
_SVG_NAMESPACE = "http://www.w3.org/2000/svg"
_OB3_ELEMENT = f"{OB3_SVG_NAMESPACE} credential"  # expat joins namespace and local name with " "
_OB2_ELEMENT = f"{OB2_SVG_NAMESPACE} assertion"

Container = Literal["png", "svg"]
Kind = Literal["ob3", "ob2"]
Encoding = Literal["json", "jwt", "url"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK_HEADER = struct.Struct(">I4s")
_MAX_CHUNK_LENGTH = 2**31 - 1  # PNG spec 5.3: a chunk length never exceeds 2^31 - 1
_TEXT_CHUNKS = (b"iTXt", b"tEXt", b"zTXt")
# Any text chunk whose keyword starts so is taken as a credential chunk when counting them.
_CREDENTIAL_KEYWORD_PREFIX = b"openbadge"
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_HOSTED_URL = re.compile(r"https?://\S+")
_XML_FORBIDDEN_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TAG_NAME = re.compile(rb"<([^\s/>]+)")
_UTF16_STARTS = (b"\xfe\xff", b"\xff\xfe", b"\x00<", b"<\x00")


@dataclass(frozen=True, slots=True)
class Unbaked:
    """What an image carries: OB 3.0 `json` or `jwt`; OB 2.0 `json`, `jwt` or hosted `url`."""

    container: Container
    kind: Kind
    encoding: Encoding
    payload: str


def bake_png(image: bytes, payload: str) -> bytes:
    """Return `image` with one uncompressed iTXt `openbadgecredential` chunk holding `payload`.

    The chunk goes just before the first IDAT, so a reader that streams the file meets the
    credential before the image data; any earlier credential text chunk (OB 3.0
    `openbadgecredential` or OB 2.0 `openbadges`) is dropped, so the image carries one credential.
    The image is cut around that place once (and kept for images baked again and again, such
    as the default medal), never decoded or encoded again: baking is a concatenation.
    """
    text, _ = _prepare_ob3_payload(payload)
    head, tail = (
        _cached_png_parts(image) if len(image) <= _CACHED_IMAGE_BYTES else _png_parts(image)
    )
    # OB 3.0 "Baking", PNG: keyword, compression flag 0, method 0, empty language and
    # translated keyword, then the UTF-8 text (credential JSON or compact JWS).
    body = OB3_PNG_KEYWORD + b"\0\0\0\0\0" + text.encode()
    return _check_output_size(head + _png_chunk(b"iTXt", body) + tail)


def bake_svg(svg: bytes, payload: str) -> bytes:
    """Return `svg` with `<openbadges:credential>` as the root's first child; the rest is kept.

    The edit is textual, at byte offsets expat reports, so the artwork is kept byte for byte:
    any earlier credential element (OB 3.0 or OB 2.0) is cut out and the new one inserted after
    the root start tag.
    """
    text, encoding = _prepare_ob3_payload(payload)
    scan = _scan_svg(svg)
    if scan.encoding not in (None, "utf-8", "utf8", "us-ascii", "ascii"):
        raise DecodeError(
            f"cannot bake into an SVG encoded as {scan.encoding}", code="svg_encoding_unsupported"
        )
    bound = scan.root_namespaces.get("openbadges")
    element = _credential_element(
        text, encoding, local_declaration=bound not in (None, OB3_SVG_NAMESPACE)
    )
    head = svg[: scan.root_tag_end]
    tail = b""
    if scan.root_empty:  # <svg .../> becomes <svg ...>element</svg>
        head = head[:-2] + b">"
        tail = b"</" + scan.root_name + b">"
    if bound is None:
        at = scan.root_start + 1 + len(scan.root_name)
        head = head[:at] + f' xmlns:openbadges="{OB3_SVG_NAMESPACE}"'.encode() + head[at:]
    rest = _cut_spans(svg, scan.root_tag_end, scan.credential_spans)
    return _check_output_size(head + element + tail + rest)


def unbake(data: bytes) -> Unbaked:
    """Find the baked credential in a PNG or SVG image; `not_baked` when there is none."""
    if len(data) > MAX_IMAGE_BYTES:
        raise InputTooLarge(f"image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    if data.startswith(_PNG_SIGNATURE):
        return _unbake_png(data)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") or data.startswith(_UTF16_STARTS):
        return _unbake_svg(data)
    raise DecodeError("not a PNG or SVG image", code="format_unknown")


# --- payloads ------------------------------------------------------------------------------


def _prepare_ob3_payload(payload: str) -> tuple[str, Encoding]:
    if not isinstance(payload, str):
        raise DecodeError("payload must be text", code="payload_invalid")
    text = payload.strip()  # whitespace around JSON is insignificant; a JWS has none
    _check_payload_size(text)
    return text, _classify_ob3(text)


def _check_payload_size(text: str) -> None:
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise DecodeError("payload is not valid Unicode text", code="payload_not_utf8") from exc
    if size > MAX_PAYLOAD_BYTES:
        raise InputTooLarge(f"payload is {size} bytes; the limit is {MAX_PAYLOAD_BYTES}")


def _classify_ob3(text: str) -> Literal["json", "jwt"]:
    """OB 3.0 bakes either the credential as JSON or its VC-JWT (compact JWS)."""
    if text.startswith("{"):
        _require_json_object(text)
        return "json"
    if _COMPACT_JWS.fullmatch(text):
        return "jwt"
    raise DecodeError("baked payload is not badge JSON or a compact JWS", code="payload_invalid")


def _classify_ob2(text: str) -> Encoding:
    """OB 2.0 bakes a hosted assertion's URL, the assertion JSON, or a signed assertion (JWS)."""
    if _HOSTED_URL.fullmatch(text):
        return "url"
    return _classify_ob3(text)


def _require_json_object(text: str) -> None:
    try:
        value = parse_json(text, max_bytes=MAX_PAYLOAD_BYTES)
    except ValueError as exc:  # e.g. an integer literal past Python's digit limit
        raise DecodeError("baked JSON cannot be read", code="payload_invalid") from exc
    if not isinstance(value, dict):
        raise DecodeError("baked JSON is not an object", code="payload_invalid")


def _unbaked(container: Container, kind: Kind, text: str) -> Unbaked:
    text = text.strip()
    _check_payload_size(text)
    encoding = _classify_ob3(text) if kind == "ob3" else _classify_ob2(text)
    return Unbaked(container=container, kind=kind, encoding=encoding, payload=text)


def _check_output_size(data: bytes) -> bytes:
    if len(data) > MAX_IMAGE_BYTES:
        raise InputTooLarge(
            f"baked image would be {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}"
        )
    return data


# --- PNG -----------------------------------------------------------------------------------


def _read_png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if len(data) > MAX_IMAGE_BYTES:
        raise InputTooLarge(f"image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    if not data.startswith(_PNG_SIGNATURE):
        raise DecodeError("not a PNG image (bad signature)", code="png_invalid")
    _check_chunk_layout(data)
    try:  # pypng checks each chunk's CRC; trailing bytes after IEND are ignored (and not kept)
        return [(bytes(kind), bytes(body)) for kind, body in png.Reader(bytes=data).chunks()]
    except png.Error as exc:
        raise DecodeError(f"PNG chunk cannot be read: {exc}", code="png_invalid") from exc


def _png_parts(image: bytes) -> tuple[bytes, bytes]:
    """`image` cut just before its first IDAT, without its credential chunks: (signature and
    the chunks before, the first IDAT to IEND). Every chunk's CRC is checked (PNG spec 5.3)."""
    if len(image) > MAX_IMAGE_BYTES:
        raise InputTooLarge(f"image is {len(image)} bytes; the limit is {MAX_IMAGE_BYTES}")
    if not image.startswith(_PNG_SIGNATURE):
        raise DecodeError("not a PNG image (bad signature)", code="png_invalid")
    head: list[bytes] = [_PNG_SIGNATURE]
    tail: list[bytes] = []
    for kind, start, end in _check_chunk_layout(image):
        body = image[start + _CHUNK_HEADER.size : end - 4]
        if zlib.crc32(body, zlib.crc32(kind)) != int.from_bytes(image[end - 4 : end], "big"):
            raise DecodeError(f"PNG {kind!r} chunk fails its CRC", code="png_invalid")
        if not _is_keyword_chunk((kind, body)):
            (tail if tail or kind == b"IDAT" else head).append(image[start:end])
    if not tail:
        raise DecodeError("PNG has no image data (IDAT chunk)", code="png_invalid")
    return b"".join(head), b"".join(tail)


# Class images are at most 256 KiB (node/classes.py); the few baked again and again stay cut.
_CACHED_IMAGE_BYTES = 256 * 1024
_cached_png_parts = functools.lru_cache(maxsize=16)(_png_parts)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(kind))
    return _CHUNK_HEADER.pack(len(body), kind) + body + crc.to_bytes(4, "big")


def _check_chunk_layout(data: bytes) -> list[tuple[bytes, int, int]]:
    """Walk every chunk header against the real byte count before pypng reads a chunk;
    return each chunk's type, start and end (past its CRC), up to IEND.

    pypng trusts each length field and asks its file for that many bytes, so a forged length
    (2 GB) must be caught here, where it costs nothing.
    """
    spans: list[tuple[bytes, int, int]] = []
    offset = len(_PNG_SIGNATURE)
    for _ in range(MAX_PNG_CHUNKS):
        if offset + _CHUNK_HEADER.size > len(data):
            raise DecodeError("PNG ends before its IEND chunk", code="png_truncated")
        length, kind = _CHUNK_HEADER.unpack_from(data, offset)
        if length > _MAX_CHUNK_LENGTH or not kind.isalpha():
            raise DecodeError(f"PNG chunk header at byte {offset} is invalid", code="png_invalid")
        if offset == len(_PNG_SIGNATURE) and kind != b"IHDR":
            raise DecodeError("PNG does not start with an IHDR chunk", code="png_invalid")
        end = offset + _CHUNK_HEADER.size + length + 4  # + CRC
        if end > len(data):
            raise DecodeError(
                f"PNG {kind!r} chunk claims {length} bytes; the file ends first",
                code="png_truncated",
            )
        spans.append((kind, offset, end))
        if kind == b"IEND":
            return spans
        offset = end
    raise InputTooLarge(f"PNG has more than {MAX_PNG_CHUNKS} chunks")


def _is_keyword_chunk(chunk: tuple[bytes, bytes]) -> bool:
    """A text chunk that carries (or may carry) a credential: OB 3.0's, OB 2.0's, or older."""
    kind, body = chunk
    return kind in _TEXT_CHUNKS and body.startswith(_CREDENTIAL_KEYWORD_PREFIX) and b"\0" in body


def _unbake_png(data: bytes) -> Unbaked:
    chunks = [chunk for chunk in _read_png_chunks(data) if _is_keyword_chunk(chunk)]
    if len(chunks) > 1:
        raise DecodeError(
            f"the PNG carries {len(chunks)} credential chunks; which one counts is ambiguous",
            code="carrier_ambiguous",
        )
    text = _png_text(chunks, OB3_PNG_KEYWORD, legacy_text=False)
    if text is not None:
        return _unbaked("png", "ob3", text)
    # OB 2.0 baking: iTXt `openbadges`; pre-1.0 bakers used tEXt (or zTXt) with that keyword.
    text = _png_text(chunks, OB2_PNG_KEYWORD, legacy_text=True)
    if text is not None:
        return _unbaked("png", "ob2", text)
    raise DecodeError("the PNG carries no baked badge", code="not_baked")


def _png_text(
    chunks: list[tuple[bytes, bytes]], keyword: bytes, *, legacy_text: bool
) -> str | None:
    prefix = keyword + b"\0"
    for kind, body in chunks:
        if kind == b"iTXt" and body.startswith(prefix):
            return _itxt_text(body[len(prefix) :])
        if legacy_text and kind == b"tEXt" and body.startswith(prefix):
            return body[len(prefix) :].decode("latin-1")  # PNG spec 11.3.4.3: tEXt is Latin-1
        if legacy_text and kind == b"zTXt" and body.startswith(prefix):
            return _ztxt_text(body[len(prefix) :])
    return None


def _ztxt_text(rest: bytes) -> str:
    """PNG spec 11.3.4.4: compression method 0 (zlib), then compressed Latin-1 text."""
    if not rest or rest[0] != 0:
        raise DecodeError("zTXt compression method is unknown", code="png_text_invalid")
    return _inflate_bounded(rest[1:]).decode("latin-1")


def _itxt_text(rest: bytes) -> str:
    """PNG spec 11.3.4.5: flag, method, language tag NUL, translated keyword NUL, text."""
    parts = rest[2:].split(b"\0", 2)
    if len(rest) < 2 or len(parts) != 3:
        raise DecodeError("iTXt chunk is malformed", code="png_text_invalid")
    flag, method, raw = rest[0], rest[1], parts[2]
    if flag == 1 and method == 0:
        raw = _inflate_bounded(raw)
    elif flag != 0:
        raise DecodeError(f"iTXt compression {flag}/{method} is unknown", code="png_text_invalid")
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise InputTooLarge(f"baked text is {len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("baked iTXt text is not UTF-8", code="payload_not_utf8") from exc


def _inflate_bounded(raw: bytes) -> bytes:
    """Inflate at most MAX_PAYLOAD_BYTES + 1 bytes, so a zlib bomb stops at the limit."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(raw, MAX_PAYLOAD_BYTES + 1)
    except zlib.error as exc:
        raise DecodeError(f"compressed iTXt is corrupt: {exc}", code="png_text_invalid") from exc
    if len(out) > MAX_PAYLOAD_BYTES:
        raise InputTooLarge(f"compressed iTXt inflates past {MAX_PAYLOAD_BYTES} bytes")
    if not inflater.eof:
        raise DecodeError("compressed iTXt ends early", code="png_text_invalid")
    return out


# --- SVG -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Found:
    """A baked element: its `verify` attribute and the text directly inside it."""

    verify: str
    text: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _SvgScan:
    root_start: int = -1
    root_tag_end: int = -1
    root_empty: bool = False
    root_name: bytes = b""
    root_namespaces: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    credential_spans: list[tuple[int, int]] = field(default_factory=list)
    ob3: _Found | None = None
    ob2: _Found | None = None
    elements: int = 0  # credential elements of either kind, nested ones included


def _unbake_svg(data: bytes) -> Unbaked:
    scan = _scan_svg(data)
    if scan.elements > 1:
        raise DecodeError(
            f"the SVG carries {scan.elements} credential elements; which one counts is ambiguous",
            code="carrier_ambiguous",
        )
    if scan.ob3 is not None:
        return _unbaked("svg", "ob3", _ob3_svg_text(scan.ob3))
    if scan.ob2 is not None:
        return _unbaked("svg", "ob2", _ob2_svg_text(scan.ob2))
    raise DecodeError("the SVG carries no baked badge", code="not_baked")


def _ambiguous_element() -> DecodeError:
    return DecodeError(
        "the credential element's verify attribute and its content name different badges",
        code="carrier_ambiguous",
    )


def _ob3_svg_text(found: _Found) -> str:
    """OB 3.0 SVG: a VC-JWT in `verify`, or JSON as content; both at once are two credentials."""
    content = "".join(found.text).strip()
    if content and found.verify and content != found.verify:
        raise _ambiguous_element()
    return found.verify or content


def _ob2_svg_text(found: _Found) -> str:
    """OB 2.0 SVG: the assertion in the element, else its `verify` URL (mozilla bakery form).

    With both, the content must be the assertion hosted at that URL; unreadable content falls
    back to the URL, which still locates the badge.
    """
    content = "".join(found.text).strip()
    if not (content and found.verify):
        return content or found.verify
    try:
        encoding = _classify_ob2(content)
    except DecodeError:
        return found.verify
    if encoding == "url":
        hosted_at: object = content
    elif encoding == "json":
        value = parse_json(content, max_bytes=MAX_PAYLOAD_BYTES)
        verify = value.get("verify") or value.get("verification")
        hosted_at = verify.get("url") if isinstance(verify, dict) else None
        hosted_at = hosted_at or value.get("id")
    else:  # a signed assertion is not the document hosted at a URL
        hosted_at = None
    if hosted_at != found.verify:
        raise _ambiguous_element()
    return content


def _scan_svg(data: bytes) -> _SvgScan:
    if len(data) > MAX_IMAGE_BYTES:
        raise InputTooLarge(f"SVG is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    if data.startswith(_UTF16_STARTS):  # byte offsets below assume an ASCII-compatible encoding
        raise DecodeError("UTF-16 SVG is not supported", code="svg_encoding_unsupported")
    scan = _SvgScanner(data).run()
    if scan.root_start < 0:
        raise DecodeError("no root element", code="svg_invalid")
    return scan


class _SvgScanner:
    """One expat pass: where the root tag and any baked elements are, and what they hold.

    No DTD is read: an internal subset or an entity declaration is refused outright (billion
    laughs, external entities); a bare external DTD reference, as exported artwork carries, is
    allowed and never fetched.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._scan = _SvgScan()
        self._depth = 0
        self._pending_namespaces: dict[str, str] = {}
        self._open: list[tuple[int, int, int, bool]] = []  # depth, start, tag end, empty
        self._captures: list[tuple[int, _Found]] = []
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.XmlDeclHandler = self._on_xml_declaration
        parser.StartDoctypeDeclHandler = self._on_doctype
        parser.EntityDeclHandler = self._on_entity
        parser.SkippedEntityHandler = self._on_skipped_entity
        parser.StartNamespaceDeclHandler = self._on_namespace
        parser.StartElementHandler = self._on_start
        parser.EndElementHandler = self._on_end
        parser.CharacterDataHandler = self._on_text
        self._parser = parser

    def run(self) -> _SvgScan:
        try:
            self._parser.Parse(self._data, True)
        except expat.ExpatError as exc:
            raise DecodeError(f"SVG is not well-formed XML: {exc}", code="svg_invalid") from exc
        return self._scan

    def _on_xml_declaration(
        self, version: str | None, encoding: str | None, standalone: int
    ) -> None:
        self._scan.encoding = encoding.lower() if encoding else None

    def _on_doctype(
        self, name: str, system_id: str | None, public_id: str | None, internal: int
    ) -> None:
        if internal:
            raise DecodeError(
                "SVG DOCTYPE with an internal subset is refused", code="svg_entities_forbidden"
            )

    def _on_entity(self, name: str, *_: object) -> None:
        raise DecodeError(f"SVG declares entity {name!r}", code="svg_entities_forbidden")

    def _on_skipped_entity(self, name: str, is_parameter: bool) -> None:
        raise DecodeError(
            f"SVG refers to undeclared entity {name!r}", code="svg_entities_forbidden"
        )

    def _on_namespace(self, prefix: str | None, uri: str) -> None:
        self._pending_namespaces[prefix or ""] = uri

    def _on_start(self, name: str, attributes: dict[str, str]) -> None:
        self._depth += 1
        if self._depth > MAX_SVG_DEPTH:
            raise InputTooLarge(f"SVG nests deeper than {MAX_SVG_DEPTH} elements")
        start = self._parser.CurrentByteIndex
        if self._depth == 1:
            self._on_root(name, start)
        self._pending_namespaces = {}
        if name not in (_OB3_ELEMENT, _OB2_ELEMENT):
            return
        self._scan.elements += 1
        if not self._open:  # nested copies go with the outer one when baking cuts them out
            self._open.append((self._depth, start, *_start_tag_end(self._data, start)))
        if name == _OB3_ELEMENT and self._scan.ob3 is None:
            self._scan.ob3 = self._capture(attributes)
        elif name == _OB2_ELEMENT and self._scan.ob2 is None:
            self._scan.ob2 = self._capture(attributes)

    def _on_root(self, name: str, start: int) -> None:
        if name not in ("svg", f"{_SVG_NAMESPACE} svg"):
            raise DecodeError("the root element is not <svg>", code="svg_invalid")
        match = _TAG_NAME.match(self._data, start)
        scan = self._scan
        scan.root_start = start
        scan.root_tag_end, scan.root_empty = _start_tag_end(self._data, start)
        scan.root_name = match.group(1) if match else b"svg"
        scan.root_namespaces = self._pending_namespaces

    def _capture(self, attributes: dict[str, str]) -> _Found:
        found = _Found(verify=attributes.get("verify", "").strip())
        self._captures.append((self._depth, found))
        return found

    def _on_end(self, name: str) -> None:
        if self._open and self._open[-1][0] == self._depth:
            _, start, tag_end, empty = self._open.pop()
            end = tag_end if empty else self._data.find(b">", self._parser.CurrentByteIndex) + 1
            self._scan.credential_spans.append((start, end))
        self._captures = [item for item in self._captures if item[0] != self._depth]
        self._depth -= 1

    def _on_text(self, text: str) -> None:
        for depth, found in self._captures:
            if depth == self._depth:  # text directly inside the baked element only
                found.text.append(text)


def _start_tag_end(data: bytes, start: int) -> tuple[int, bool]:
    """Offset just past the start tag at `start`, and whether it is empty (`/>`)."""
    quote = 0
    for index in range(start, len(data)):
        byte = data[index]
        if quote:
            quote = 0 if byte == quote else quote
        elif byte in b"\"'":
            quote = byte
        elif byte == ord(">"):
            return index + 1, data[index - 1] == ord("/")
    raise DecodeError("SVG start tag never ends", code="svg_invalid")


def _credential_element(text: str, encoding: Encoding, *, local_declaration: bool) -> bytes:
    """OB 3.0 "Baking", SVG: JSON in a CDATA section, a VC-JWT in the `verify` attribute."""
    declaration = f' xmlns:openbadges="{OB3_SVG_NAMESPACE}"' if local_declaration else ""
    if encoding == "jwt":  # the JWS alphabet needs no attribute escaping
        return (
            f'<openbadges:credential{declaration} verify="{text}"></openbadges:credential>'.encode()
        )
    if _XML_FORBIDDEN_CHARS.search(text):
        raise DecodeError("payload holds characters XML cannot carry", code="payload_invalid")
    cdata = text.replace("]]>", "]]]]><![CDATA[>")  # a CDATA section cannot hold "]]>"
    return (
        f"<openbadges:credential{declaration}><![CDATA[{cdata}]]></openbadges:credential>".encode()
    )


def _cut_spans(data: bytes, start: int, spans: list[tuple[int, int]]) -> bytes:
    """`data[start:]` without the byte ranges in `spans` (sorted, after `start`)."""
    pieces, position = [], start
    for span_start, span_end in spans:
        pieces.append(data[position:span_start])
        position = span_end
    pieces.append(data[position:])
    return b"".join(pieces)
