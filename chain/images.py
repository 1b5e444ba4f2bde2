"""Default badge artwork, for badges issued without an image of their own."""

from __future__ import annotations

import io
from functools import cache
from xml.sax.saxutils import escape

import png

__all__ = ["default_png", "default_svg"]

_SIZE = 128
_RIM = (0x1F, 0x4E, 0x79)
_FACE = (0xF2, 0xB1, 0x34)


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
