"""Baking and unbaking: a credential carried inside its PNG or SVG badge image.

Implements Open Badges 3.0 section "Baking" and recognises OB 2.0 and older baking (iTXt, tEXt
and zTXt `openbadges`; `<openbadges:assertion>` with JSON content or a `verify` URL); pixels are
never decoded. An image that carries more than one credential is refused (`carrier_ambiguous`):
which one a verifier reads first must never decide what the badge says. PNG is here; SVG is
chain/bake_svg.py, the payload checks chain/bake_payload.py.
"""

from __future__ import annotations

import functools
import struct
import zlib

import png

from .bake_payload import (
    MAX_IMAGE_BYTES,
    MAX_PAYLOAD_BYTES,
    Container,
    Encoding,
    Kind,
    Unbaked,
    check_output_size,
    prepare_ob3_payload,
    unbaked,
)
from .bake_svg import (
    MAX_SVG_DEPTH,
    OB2_SVG_NAMESPACE,
    OB3_SVG_NAMESPACE,
    UTF16_STARTS,
    bake_svg,
    unbake_svg,
)
from .errors import DecodeError, InputTooLarge

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

# libpng writes 8 KiB IDAT chunks: 1,280 for a 10 MiB image. pypng spends ~10 us per chunk,
# so a file of 600,000 empty chunks would otherwise cost seconds.
MAX_PNG_CHUNKS = 10_000

OB3_PNG_KEYWORD = b"openbadgecredential"
OB2_PNG_KEYWORD = b"openbadges"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK_HEADER = struct.Struct(">I4s")
_MAX_CHUNK_LENGTH = 2**31 - 1  # PNG spec 5.3: a chunk length never exceeds 2^31 - 1
_TEXT_CHUNKS = (b"iTXt", b"tEXt", b"zTXt")
# Any text chunk whose keyword starts so is taken as a credential chunk when counting them.
_CREDENTIAL_KEYWORD_PREFIX = b"openbadge"


def bake_png(image: bytes, payload: str) -> bytes:
    """Return `image` with one uncompressed iTXt `openbadgecredential` chunk holding `payload`.

    The chunk goes just before the first IDAT, so a reader that streams the file meets the
    credential before the image data; any earlier credential text chunk (OB 3.0
    `openbadgecredential` or OB 2.0 `openbadges`) is dropped, so the image carries one credential.
    The image is cut around that place once (and kept for images baked again and again, such
    as the default medal), never decoded or encoded again: baking is a concatenation.
    """
    text, _ = prepare_ob3_payload(payload)
    head, tail = (
        _cached_png_parts(image) if len(image) <= _CACHED_IMAGE_BYTES else _png_parts(image)
    )
    # OB 3.0 "Baking", PNG: keyword, compression flag 0, method 0, empty language and
    # translated keyword, then the UTF-8 text (credential JSON or compact JWS).
    body = OB3_PNG_KEYWORD + b"\0\0\0\0\0" + text.encode()
    return check_output_size(head + _png_chunk(b"iTXt", body) + tail)


def unbake(data: bytes) -> Unbaked:
    """Find the baked credential in a PNG or SVG image; `not_baked` when there is none."""
    if len(data) > MAX_IMAGE_BYTES:
        raise InputTooLarge(f"image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    if data.startswith(_PNG_SIGNATURE):
        return _unbake_png(data)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") or data.startswith(UTF16_STARTS):
        return unbake_svg(data)
    raise DecodeError("not a PNG or SVG image", code="format_unknown")


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
        return unbaked("png", "ob3", text)
    # OB 2.0 baking: iTXt `openbadges`; pre-1.0 bakers used tEXt (or zTXt) with that keyword.
    text = _png_text(chunks, OB2_PNG_KEYWORD, legacy_text=True)
    if text is not None:
        return unbaked("png", "ob2", text)
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
