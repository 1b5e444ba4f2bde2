"""Baking and unbaking SVG images (OB 3.0 "Baking", SVG; OB 2.0 `<openbadges:assertion>`).

The edit is textual, at byte offsets expat reports, so the artwork is kept byte for byte;
entity declarations (and a DOCTYPE with an internal subset) are refused, and nesting is
bounded (MAX_SVG_DEPTH).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.parsers import expat

from .bake_payload import (
    MAX_IMAGE_BYTES,
    MAX_PAYLOAD_BYTES,
    Encoding,
    Unbaked,
    check_output_size,
    classify_ob2,
    prepare_ob3_payload,
    unbaked,
)
from .errors import DecodeError, InputTooLarge
from .jsonio import parse_json

__all__ = [
    "MAX_SVG_DEPTH",
    "OB2_SVG_NAMESPACE",
    "OB3_SVG_NAMESPACE",
    "UTF16_STARTS",
    "bake_svg",
    "unbake_svg",
]

MAX_SVG_DEPTH = 256  # real badge art nests a few dozen levels at most
OB3_SVG_NAMESPACE = "https://purl.imsglobal.org/ob/v3p0"
OB2_SVG_NAMESPACE = "http://openbadges.org"
_SVG_NAMESPACE = "http://www.w3.org/2000/svg"
_OB3_ELEMENT = f"{OB3_SVG_NAMESPACE} credential"  # expat joins namespace and local name with " "
_OB2_ELEMENT = f"{OB2_SVG_NAMESPACE} assertion"
_XML_FORBIDDEN_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TAG_NAME = re.compile(rb"<([^\s/>]+)")
UTF16_STARTS = (b"\xfe\xff", b"\xff\xfe", b"\x00<", b"<\x00")  # an SVG in UTF-16


def bake_svg(svg: bytes, payload: str) -> bytes:
    """Return `svg` with `<openbadges:credential>` as the root's first child; the rest is kept.

    The edit is textual, at byte offsets expat reports, so the artwork is kept byte for byte:
    any earlier credential element (OB 3.0 or OB 2.0) is cut out and the new one inserted after
    the root start tag.
    """
    text, encoding = prepare_ob3_payload(payload)
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
    return check_output_size(head + element + tail + rest)


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


def unbake_svg(data: bytes) -> Unbaked:
    scan = _scan_svg(data)
    if scan.elements > 1:
        raise DecodeError(
            f"the SVG carries {scan.elements} credential elements; which one counts is ambiguous",
            code="carrier_ambiguous",
        )
    if scan.ob3 is not None:
        return unbaked("svg", "ob3", _ob3_svg_text(scan.ob3))
    if scan.ob2 is not None:
        return unbaked("svg", "ob2", _ob2_svg_text(scan.ob2))
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
        encoding = classify_ob2(content)
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
    if data.startswith(UTF16_STARTS):  # byte offsets below assume an ASCII-compatible encoding
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
