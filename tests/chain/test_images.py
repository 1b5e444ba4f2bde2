"""The badge card: what it says, how it treats hostile text, the REVOKED mark, the class
image it embeds, and that it stays well-formed XML a baker can carry a credential in."""

from __future__ import annotations

import base64
import datetime as dt
import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from badgechain.chain.badge import build_achievement, build_credential, email_identity
from badgechain.chain.bake import bake_svg, unbake
from badgechain.chain.images import (
    badge_card,
    default_png,
    default_svg,
    render_badge_svg,
    short_id,
)
from badgechain.chain.keys import KeyPair

SVG = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
ISSUER = KeyPair.from_seed(bytes(range(32)))
EARNER = KeyPair.from_seed(bytes(range(1, 33)))
PNG_URI = "data:image/png;base64," + base64.b64encode(default_png()).decode()
SVG_URI = "data:image/svg+xml;base64," + base64.b64encode(default_svg("art")).decode()


def _parse(svg: str | bytes) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output, parsed to prove it well-formed)


def _card(**changes: Any) -> ET.Element:
    fields: dict[str, Any] = {
        "name": "Mesh networking",
        "issuer": "Example University",
        "earner": "Ada Lovelace",
        "revoked": False,
    }
    return _parse(render_badge_svg(**(fields | changes)))


def _texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def _title(root: ET.Element) -> str:
    title = root.find(f"{SVG}title")
    assert title is not None and title.text is not None
    return title.text


def _revoked_marks(root: ET.Element) -> list[ET.Element]:
    return [element for element in root.iter() if element.get("id") == "bc-revoked"]


# -- the card -------------------------------------------------------------------------------


def test_the_card_names_the_badge_issuer_and_earner() -> None:
    root = _card()
    assert root.tag == f"{SVG}svg" and root.get("version") == "1.1"
    assert root.get("viewBox") == "0 0 520 260"
    texts = _texts(root)
    assert {"Mesh networking", "Example University", "Ada Lovelace"} <= set(texts)
    assert _title(root) == "Mesh networking, issued by Example University to Ada Lovelace"
    assert not _revoked_marks(root) and "REVOKED" not in " ".join(texts)


def test_a_revoked_card_carries_the_band_and_says_so() -> None:
    root = _card(revoked=True)
    (band,) = _revoked_marks(root)
    assert "REVOKED" in "".join(band.itertext())
    assert any(rect.get("fill") == "#c62828" for rect in band.iter(f"{SVG}rect"))
    assert _title(root).endswith("(REVOKED)")
    assert any(text.startswith("REVOKED:") for text in _texts(root))


def test_hostile_text_is_escaped_not_interpreted() -> None:
    name = "<script>alert('x')</script> & \"more\""
    svg = render_badge_svg(name=name, issuer="a<b", earner="c&d", revoked=False)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    root = _parse(svg)
    assert not list(root.iter(f"{SVG}script"))
    assert "a<b" in _texts(root) and "c&d" in _texts(root)
    assert "".join(_texts(root)[:2]).replace(" ", "") == name.replace(" ", "")


def test_control_and_format_characters_are_dropped() -> None:
    # NUL is no XML character at all; U+202E would flip the rest of the line around.
    root = _card(name="Mesh\x00 net\u202eworking\n\tlab", issuer="Uni\x07versity")
    assert "Mesh networking lab" in _texts(root)
    assert "University" in _texts(root)


def test_long_texts_are_cut_with_an_ellipsis() -> None:
    root = _card(name="word " * 100, issuer="I" * 200, earner="E" * 200)
    texts = _texts(root)
    name_lines = texts[:2]
    assert name_lines[0] == ("word " * 4).strip()  # broken at a space, 22 characters at most
    assert name_lines[1].endswith("\u2026") and len(name_lines[1]) <= 22
    assert "I" * 31 + "\u2026" in texts and "E" * 31 + "\u2026" in texts
    assert len(_title(root)) < 250


def test_an_unbroken_long_name_is_cut_on_two_lines() -> None:
    texts = _texts(_card(name="X" * 60))
    assert texts[:2] == ["X" * 22, "X" * 21 + "\u2026"]


def test_empty_texts_get_a_placeholder() -> None:
    texts = _texts(_card(name=" \x00 ", issuer="", earner="\u200b"))
    assert texts[0] == "Badge" and texts.count("unknown") == 2


@pytest.mark.parametrize("uri", [PNG_URI, SVG_URI])
def test_the_class_image_is_embedded(uri: str) -> None:
    (image,) = _card(image=uri).iter(f"{SVG}image")
    assert image.get(XLINK_HREF) == uri
    assert (image.get("width"), image.get("height")) == ("160", "160")


@pytest.mark.parametrize(
    "uri",
    [
        "https://tracker.example/pixel.png",
        "javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        'data:image/png;base64,AAAA"/><script>',
        "data:image/png;base64," + "A" * (4 * 1024 * 1024 + 4),
    ],
)
def test_anything_but_an_image_data_uri_is_left_out(uri: str) -> None:
    root = _card(image=uri)
    assert not list(root.iter(f"{SVG}image"))
    assert len(list(root.iter(f"{SVG}circle"))) == 2  # the default medal instead


def test_without_an_image_the_default_medal_is_drawn() -> None:
    root = _card()
    assert not list(root.iter(f"{SVG}image"))
    assert {circle.get("fill") for circle in root.iter(f"{SVG}circle")} == {"#1f4e79", "#f2b134"}


def test_a_credential_bakes_into_the_card_and_comes_back() -> None:
    payload = json.dumps({"type": ["VerifiableCredential"], "name": "x"})
    baked = bake_svg(_card_bytes(revoked=True), payload)
    _parse(baked)  # still well-formed
    assert json.loads(unbake(baked).payload) == json.loads(payload)


def _card_bytes(**changes: Any) -> bytes:
    fields: dict[str, Any] = {"name": "n", "issuer": "i", "earner": "e", "revoked": False}
    return render_badge_svg(**(fields | changes)).encode()


@given(st.text(max_size=300), st.text(max_size=100), st.text(max_size=100), st.booleans())
def test_any_text_gives_a_well_formed_card(
    name: str, issuer: str, earner: str, revoked: bool
) -> None:
    svg = render_badge_svg(name=name, issuer=issuer, earner=earner, revoked=revoked)
    root = _parse(svg)
    assert bool(_revoked_marks(root)) is revoked
    footers = ("Open Badges 3.0", "REVOKED")
    drawn = [text for text in _texts(root) if not text.startswith(footers)]
    assert all(len(text) <= 32 for text in drawn)


# -- identifiers and credentials --------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "shown"),
    [
        (EARNER.did, f"did:key:{EARNER.did[8:12]}\u2026{EARNER.did[-4:]}"),
        ("urn:bns:z3WxYz0123456789abcdef", "urn:bns:z3Wx\u2026cdef"),
        ("did:web:badges.example.org", "did:web:badges.example.org"),
        ("did:key:z6Mkshort", "did:key:z6Mkshort"),
        ("Team:abcdefghijklmnopqrstuvwxyz", "Team:abcdefghijklmnopqrstuvwxyz"),
        ("Ada Lovelace", "Ada Lovelace"),
    ],
)
def test_long_dids_and_urns_are_shortened(identifier: str, shown: str) -> None:
    assert short_id(identifier) == shown


def _credential(
    *,
    image: str | None = None,
    subject: str | None = EARNER.did,
    issuer_name: str | None = None,
    identifiers: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    achievement = build_achievement(
        ISSUER.did,
        achievement_id="urn:uuid:4a0a3a57-3b59-4b8e-9d7e-2f1c1e0f9a01",
        name="Mesh networking",
        description="Routes packets",
        criteria="Lab 3",
        image=image,
    )
    return build_credential(
        issuer_did=ISSUER.did,
        subject_id=subject,
        achievement=achievement,
        valid_from=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        credential_id="urn:uuid:6f1d8a0e-8f7e-4f44-8d1a-0c2b7d6e5f40",
        issuer_name=issuer_name,
        identifiers=identifiers,
    )


def test_a_card_reads_its_texts_and_image_from_the_credential() -> None:
    card = badge_card(_credential(image=PNG_URI))
    assert card.name == "Mesh networking"
    assert card.issuer == short_id(ISSUER.did) and card.earner == short_id(EARNER.did)
    assert card.image == PNG_URI


def test_a_card_prefers_names_to_dids() -> None:
    card = badge_card(_credential(issuer_name="Example University"))
    assert card.issuer == "Example University"
    subject = _credential()
    subject["credentialSubject"]["name"] = "Ada Lovelace"
    assert badge_card(subject).earner == "Ada Lovelace"


def test_an_earner_known_by_email_only() -> None:
    hashed = email_identity("ada@example.org", salt="pepper")
    plain = email_identity("ada@example.org", salt=None, hashed=False)
    assert badge_card(_credential(subject=None, identifiers=(hashed,))).earner == (
        "an email address (hashed)"
    )
    assert badge_card(_credential(subject=None, identifiers=(plain,))).earner == "ada@example.org"


def test_a_card_of_a_malformed_credential_still_draws() -> None:
    card = badge_card({"issuer": 5, "credentialSubject": {"achievement": {"image": "http://x"}}})
    assert (card.name, card.issuer, card.earner, card.image) == (
        "Badge",
        "unknown",
        "unknown",
        None,
    )
    assert badge_card({"issuer": "did:web:example.org", "name": "Old"}).issuer == (
        "did:web:example.org"
    )
