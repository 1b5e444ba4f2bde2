"""Badge artwork: the default medal, and the badge card the gateway serves as SVG.

The card shows the class image, the badge name, its issuer and earner, and a REVOKED band
when the badge is revoked. Every text comes from a credential someone else wrote, so it is
cleaned (control and format characters dropped), shortened, and XML-escaped here.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

import png

__all__ = [
    "MAX_CARD_IMAGE_CHARS",
    "BadgeCard",
    "badge_card",
    "default_png",
    "default_svg",
    "render_badge_svg",
    "short_id",
]

_SIZE = 128
_RIM = (0x1F, 0x4E, 0x79)
_FACE = (0xF2, 0xB1, 0x34)

# An achievement image is at most 256 KiB (node/issuer_routes.py): 350,000 base64 characters.
MAX_CARD_IMAGE_CHARS = 4 * 1024 * 1024
_IMAGE_URI = re.compile(r"data:image/(?:png|svg\+xml);base64,[A-Za-z0-9+/]+={0,2}")
_ID_PREFIX = re.compile(r"(?:did|urn):[a-z0-9]+")  # DIDs and URNs (urn:bns:…) only, not names
_ID_TAIL = re.compile(r"[A-Za-z0-9_-]{17,}")  # a key or hash, not a domain name
_ID_KEEP = 4  # characters kept at each end of a long identifier: did:key:z6Mk…abcd
_NAME_LINE_CHARS = 22  # 22 px bold glyphs in the 280 px text column
_PARTY_CHARS = 32  # 15 px glyphs in the same column
_ELLIPSIS = "\u2026"

_WIDTH, _HEIGHT = 520, 260
_INK, _MUTED, _BLUE, _RED = "#1f2933", "#52606d", "#1f4e79", "#c62828"
_FONT = "DejaVu Sans, Verdana, Arial, sans-serif"


@cache
def default_png() -> bytes:
    """A 128 by 128 medal: a gold disc with a blue rim on a transparent background."""
    centre, outer, inner = (_SIZE - 1) / 2, _SIZE / 2 - 2, _SIZE / 2 - 12
    rows = []
    for y in range(_SIZE):
        row: list[int] = []
        for x in range(_SIZE):
            distance = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5
            if distance <= inner:
                row += [*_FACE, 255]
            elif distance <= outer:
                row += [*_RIM, 255]
            else:
                row += [0, 0, 0, 0]
        rows.append(row)
    buffer = io.BytesIO()
    png.Writer(_SIZE, _SIZE, greyscale=False, alpha=True).write(buffer, rows)
    return buffer.getvalue()


def default_svg(title: str) -> bytes:
    """The same medal as SVG, with the badge name written across it."""
    label = escape(title[:40])
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">\n'
        f"  <title>{label}</title>\n"
        '  <circle cx="128" cy="128" r="124" fill="#1f4e79"/>\n'
        '  <circle cx="128" cy="128" r="104" fill="#f2b134"/>\n'
        '  <text x="128" y="136" font-family="sans-serif" font-size="18" text-anchor="middle" '
        f'fill="#1f2933">{label}</text>\n'
        "</svg>\n"
    ).encode()


# -- what a card says -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BadgeCard:
    """The texts and image of a badge card, read from a credential (not yet cleaned)."""

    name: str
    issuer: str
    earner: str
    image: str | None  # a data:image/png or data:image/svg+xml base64 URI


def short_id(identifier: str) -> str:
    """A long DID or URN with its last part shortened: did:key:z6MkhaX…3Fq9 keeps 4 + 4."""
    prefix, _, tail = identifier.rpartition(":")
    if _ID_PREFIX.fullmatch(prefix) and _ID_TAIL.fullmatch(tail):
        return f"{prefix}:{tail[:_ID_KEEP]}{_ELLIPSIS}{tail[-_ID_KEEP:]}"
    return identifier


def badge_card(credential: Mapping[str, Any]) -> BadgeCard:
    """Name, issuer, earner and class image of an OpenBadgeCredential, as a card shows them."""
    subject = _mapping(credential.get("credentialSubject"))
    achievement = _mapping(subject.get("achievement"))
    name = _text(achievement.get("name")) or _text(credential.get("name")) or "Badge"
    return BadgeCard(
        name=name,
        issuer=_party(credential.get("issuer")),
        earner=_earner(subject),
        image=_image_uri(achievement.get("image")),
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) and value.strip() else ""


def _party(value: object) -> str:
    """A profile by its name when it gives one, else by its (shortened) id."""
    if isinstance(value, str):
        return short_id(value) if value.strip() else "unknown"
    profile = _mapping(value)
    return _text(profile.get("name")) or short_id(_text(profile.get("id"))) or "unknown"


def _earner(subject: Mapping[str, Any]) -> str:
    if _text(subject.get("name")) or _text(subject.get("id")):
        return _party(subject)
    identifiers = subject.get("identifier")
    if not isinstance(identifiers, list) or not identifiers:
        return "unknown"
    identity = _mapping(identifiers[0])  # OB 3.0 IdentityObject: plain or salted hash
    if identity.get("hashed") is False and _text(identity.get("identityHash")):
        return _text(identity.get("identityHash"))
    kind = _text(identity.get("identityType")) or "identifier"
    return "an email address (hashed)" if kind == "emailAddress" else f"{kind} (hashed)"


def _image_uri(image: object) -> str | None:
    uri = _mapping(image).get("id") if isinstance(image, Mapping) else image
    if not isinstance(uri, str) or len(uri) > MAX_CARD_IMAGE_CHARS:
        return None
    return uri if _IMAGE_URI.fullmatch(uri) else None


# -- drawing -------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """One line of printable text: control, format (bidi overrides) and unassigned
    characters dropped, runs of white space folded into one space."""
    kept = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or not unicodedata.category(char).startswith("C")
    )
    return " ".join(kept.split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + _ELLIPSIS


def _wrap(text: str, width: int, lines: int) -> list[str]:
    """Up to `lines` lines of at most `width` characters, broken at spaces when possible;
    what does not fit ends the last line with an ellipsis."""
    out: list[str] = []
    rest = text
    while rest and len(out) < lines - 1:
        if len(rest) <= width:
            break
        cut = rest.rfind(" ", 0, width + 1)
        cut = cut if cut > 0 else width
        out.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        out.append(_clip(rest, width))
    return out


def _xml(text: str) -> str:
    return escape(text, {'"': "&quot;", "'": "&apos;"})


def render_badge_svg(
    *, name: str, issuer: str, earner: str, revoked: bool, image: str | None = None
) -> str:
    """An SVG 1.1 badge card; `image` is embedded only when it is a base64 PNG or SVG data URI
    (an outside URL would make every viewer fetch it)."""
    title_name = _clip(_clean(name), 120) or "Badge"
    issuer_text = _clip(short_id(_clean(issuer)), _PARTY_CHARS) or "unknown"
    earner_text = _clip(short_id(_clean(earner)), _PARTY_CHARS) or "unknown"
    title = f"{title_name}, issued by {issuer_text} to {earner_text}"
    if revoked:
        title += " (REVOKED)"
    frame = _RED if revoked else _BLUE
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'version="1.1" width="{_WIDTH}" height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}">',
        f"<title>{_xml(title)}</title>",
        '<defs><clipPath id="bc-card"><rect x="2" y="2" width="516" height="256" rx="16"/>'
        "</clipPath></defs>",
        f'<rect x="2" y="2" width="516" height="256" rx="16" fill="#fbfcfe" stroke="{frame}" '
        'stroke-width="4"/>',
        '<rect x="24" y="40" width="168" height="168" rx="12" fill="#eef3f8"/>',
        _artwork(image),
        f'<g font-family="{_FONT}" fill="{_INK}">',
        *_name_lines(title_name),
        *_party_lines("ISSUED BY", issuer_text, 140),
        *_party_lines("EARNED BY", earner_text, 192),
        _footer(revoked),
        "</g>",
    ]
    if revoked:
        parts.append(_revoked_band())
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _artwork(image: str | None) -> str:
    if image is not None and len(image) <= MAX_CARD_IMAGE_CHARS and _IMAGE_URI.fullmatch(image):
        return (
            '<image x="28" y="44" width="160" height="160" '
            f'preserveAspectRatio="xMidYMid meet" xlink:href="{image}"/>'
        )
    return (  # no class image: the default medal, drawn in place
        f'<circle cx="108" cy="124" r="72" fill="{_BLUE}"/>'
        '<circle cx="108" cy="124" r="58" fill="#f2b134"/>'
    )


def _name_lines(name: str) -> list[str]:
    lines = _wrap(name, _NAME_LINE_CHARS, 2)
    top = 72 if len(lines) == 2 else 86
    style = 'font-size="22" font-weight="bold"'
    return [
        f'<text x="216" y="{top + 28 * index}" {style}>{_xml(line)}</text>'
        for index, line in enumerate(lines)
    ]


def _party_lines(label: str, value: str, y: int) -> list[str]:
    return [
        f'<text x="216" y="{y}" font-size="11" letter-spacing="1" fill="{_MUTED}">{label}</text>',
        f'<text x="216" y="{y + 20}" font-size="15">{_xml(value)}</text>',
    ]


def _footer(revoked: bool) -> str:
    if revoked:
        return (
            f'<text x="24" y="240" font-size="12" font-weight="bold" fill="{_RED}">'
            "REVOKED: the issuer withdrew this badge</text>"
        )
    return (
        f'<text x="24" y="240" font-size="11" fill="{_MUTED}">'
        "Open Badges 3.0 \u00b7 the credential is baked into this image</text>"
    )


def _revoked_band() -> str:
    """A red band across the card, clipped to its rounded corners."""
    turn = 'transform="rotate(-14 260 130)"'
    return (
        '<g id="bc-revoked" clip-path="url(#bc-card)">'
        f'<rect x="-60" y="104" width="640" height="52" fill="{_RED}" fill-opacity="0.9" {turn}/>'
        f'<text x="260" y="141" {turn} font-family="{_FONT}" font-size="30" font-weight="bold" '
        'letter-spacing="8" fill="#ffffff" text-anchor="middle">REVOKED</text>'
        "</g>"
    )
