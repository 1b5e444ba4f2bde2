"""Badge images from real nodes: the SVG card (texts, class image, REVOKED mark, baked
credential) and the baked PNG, which keeps the class image's pixels."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import time
import xml.etree.ElementTree as ET
from typing import Any

import aiohttp
import png
import pytest

from badgechain.bns.record import Record, Uid
from badgechain.chain.bake import unbake
from badgechain.chain.images import short_id
from badgechain.node.app import RunningNode
from tests.node.conftest import NodeNetwork, eventually

SVG = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
CLASS = {"name": "Mesh networking", "description": "Routes packets", "criteria": "Lab 3"}

Json = Any


def _class_png() -> bytes:
    """A 5 by 3 image no default artwork looks like: one colour per column."""
    columns = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 240, 0), (0, 0, 0)]
    rows = [[value for colour in columns for value in colour] for _ in range(3)]
    buffer = io.BytesIO()
    png.Writer(5, 3, greyscale=False).write(buffer, rows)
    return buffer.getvalue()


async def _admin(
    network: NodeNetwork,
    http: aiohttp.ClientSession,
    node: RunningNode,
    path: str,
    body: Json = None,
) -> Json:
    method = "GET" if body is None else "POST"
    async with http.request(
        method, node.gateway_url + path, json=body, headers=network.admin
    ) as response:
        answer = await response.json(content_type=None)
        assert response.status in (200, 201), answer
        return answer


async def _issue(
    network: NodeNetwork, http: aiohttp.ClientSession, issuer: RunningNode, earner_did: str
) -> Json:
    image = base64.b64encode(_class_png()).decode()
    made = await _admin(network, http, issuer, "/admin/classes", CLASS | {"image": image})
    return await _admin(
        network, http, issuer, "/admin/issue", {"class_id": made["id"], "to": earner_did}
    )


async def _get(http: aiohttp.ClientSession, url: str, content_type: str) -> tuple[bytes, str]:
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == content_type
        return await response.read(), response.headers.get("Cache-Control", "")


async def _card(
    http: aiohttp.ClientSession, node: RunningNode, uid: str
) -> tuple[bytes, ET.Element]:
    body, cache = await _get(http, f"{node.gateway_url}/badges/{uid}.svg", "image/svg+xml")
    assert cache == "public, max-age=60"
    return body, ET.fromstring(body)  # noqa: S314 (our node's own answer, parsed to test it)


def _texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def _revoked(root: ET.Element) -> bool:
    return any(element.get("id") == "bc-revoked" for element in root.iter())


def _chunks(data: bytes) -> dict[bytes, bytes]:
    """IHDR, and every IDAT joined: what decides the pixels."""
    chunks = list(png.Reader(bytes=data).chunks())
    return {
        b"IHDR": next(body for kind, body in chunks if kind == b"IHDR"),
        b"IDAT": b"".join(body for kind, body in chunks if kind == b"IDAT"),
    }


def _pixels(data: bytes) -> list[list[int]]:
    _, _, rows, _ = png.Reader(bytes=data).asRGBA8()
    return [list(row) for row in rows]


async def test_the_svg_card_shows_the_badge_and_carries_it(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    issuer, _, far = await node_network.start(3)
    earner_did = far.did
    issued = await _issue(node_network, http, issuer, earner_did)
    credential, uid = issued["credential"], issued["uid"]

    body, root = await _card(http, issuer, uid)
    assert json.loads(unbake(body).payload) == credential
    texts = _texts(root)
    assert {CLASS["name"], short_id(issuer.did), short_id(earner_did)} <= set(texts)
    assert "\u2026" in short_id(issuer.did)  # the DIDs are shown shortened
    (image,) = root.iter(f"{SVG}image")
    assert image.get(XLINK_HREF) == credential["credentialSubject"]["achievement"]["image"]["id"]
    assert not _revoked(root)


async def test_the_png_keeps_the_class_image(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (issuer,) = await node_network.start(1)
    issued = await _issue(node_network, http, issuer, node_network.nodes[0].did)
    url = f"{issuer.gateway_url}/badges/{issued['uid']}.png"
    baked, _ = await _get(http, url, "image/png")
    assert _chunks(baked) == _chunks(_class_png())
    assert _pixels(baked) == _pixels(_class_png())
    assert json.loads(unbake(baked).payload) == issued["credential"]


async def test_a_revocation_shows_on_the_issuer_and_through_the_bns(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    # Ask the BNS each time.
    node_network.settings = dataclasses.replace(node_network.settings, card_answer_s=0.0)
    issuer, earner, _ = await node_network.start(3)
    uid = (await _issue(node_network, http, issuer, earner.did))["uid"]

    async def delivered() -> bool:
        inbox = await _admin(node_network, http, earner, "/admin/inbox")
        return any(item.get("uid") == uid for item in inbox["badges"])

    await eventually(delivered, timeout=15)
    await _admin(node_network, http, earner, "/admin/accept", {"uid": uid})
    for node in (issuer, earner):
        assert not _revoked((await _card(http, node, uid))[1])

    await _admin(node_network, http, issuer, "/admin/revoke", {"uid": uid, "reason": "mistake"})
    _, on_issuer = await _card(http, issuer, uid)  # the issuer's own state says revoked
    assert _revoked(on_issuer) and "REVOKED" in " ".join(_texts(on_issuer))
    _, on_earner = await _card(http, earner, uid)  # the earner learns it from the BNS
    assert _revoked(on_earner)


async def test_a_slow_bns_never_holds_up_the_image(
    node_network: NodeNetwork, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_network.settings = dataclasses.replace(node_network.settings, card_lookup_timeout_s=0.2)
    issuer, earner = await node_network.start(2)
    uid = (await _issue(node_network, http, issuer, earner.did))["uid"]

    async def never(uid: Uid) -> Record:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    def hang_the_bns() -> None:
        monkeypatch.setattr(issuer.names, "resolve", never)

    hang_the_bns()
    started = time.monotonic()
    _, root = await _card(http, issuer, uid)  # the session would give up after 30 s
    assert not _revoked(root) and time.monotonic() - started < 5

    monkeypatch.undo()  # the revocation itself needs the BNS
    await _admin(node_network, http, issuer, "/admin/revoke", {"uid": uid, "reason": "mistake"})
    hang_the_bns()
    _, root = await _card(http, issuer, uid)
    assert _revoked(root)  # from the issuer's own state, without the DHT


async def test_cards_reuse_the_bns_answer_for_a_while(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """Anonymous card requests must not each cost a DHT lookup."""
    issuer, earner = await node_network.start(2)
    uid = (await _issue(node_network, http, issuer, earner.did))["uid"]
    names = issuer.names
    asked: list[Uid] = []
    resolve = names.resolve

    async def counting(uid: Uid) -> Record:
        asked.append(uid)
        return await resolve(uid)

    names.resolve = counting  # type: ignore[method-assign]
    for _ in range(5):
        await _card(http, issuer, uid)  # checks the answer is an SVG card
    assert len(asked) == 1
