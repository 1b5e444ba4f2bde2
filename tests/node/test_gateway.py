"""The public gateway of one node: serving badges, the did:web document, the OpenAPI
document, and bad input of every kind — each refused with a problem report (or a report),
the node still serving afterwards."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import png
import pytest

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.bake import unbake
from badgechain.chain.images import default_png
from badgechain.chain.keys import KeyPair, read_did_document
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.chain.proof import sign_credential
from badgechain.chain.verify import MAX_INPUT_BYTES
from badgechain.node.app import Node, RunningNode
from badgechain.node.badgestore import save_badge
from badgechain.node.config import NodeConfig
from badgechain.node.openapi import OPERATIONS, build_document, registered_routes
from tests.bns.network import TEST_SETTINGS

TOKEN = "t" * 40
PROBLEM = "application/problem+json"
TIMEOUT = aiohttp.ClientTimeout(total=30)
ISSUER = KeyPair.from_seed(bytes(range(32)))
EARNER = KeyPair.from_seed(bytes(range(1, 33)))


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningNode]:
    """One node alone: no DHT peers, so anything needing the BNS is unreachable."""
    home = tmp_path / "node"
    home.mkdir()
    config = NodeConfig(name="node", dht_port=0, http_port=0)
    started = await Node(
        home, KeyPair.generate(), config, TOKEN, dht_settings=TEST_SETTINGS
    ).start()
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as client:
        yield client


def _badge(image: str | None = None) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    achievement = build_achievement(
        ISSUER.did,
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
        name="Mesh networking",
        description="Routes packets",
        criteria="Lab 3",
        image=image,
    )
    credential = build_credential(
        issuer_did=ISSUER.did,
        subject_id=EARNER.did,
        achievement=achievement,
        valid_from=now,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
    )
    return sign_credential(credential, ISSUER, created=now)


async def _problem(response: aiohttp.ClientResponse, status: int, code: str) -> None:
    body = await response.json(content_type=None)
    assert (response.status, response.content_type, body.get("code")) == (status, PROBLEM, code), (
        body
    )
    assert {"type", "title", "status", "detail"} <= body.keys()


async def _still_serving(session: aiohttp.ClientSession, node: RunningNode) -> None:
    async with session.get(f"{node.gateway_url}/health") as response:
        assert response.status == 200
        assert (await response.json())["did"] == node.did


# -- badges held here ----------------------------------------------------------------------


def _tiny_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    rows = [[200, 30, 30] * width for _ in range(height)]
    png.Writer(width, height, greyscale=False).write(buffer, rows)
    return buffer.getvalue()


def _png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", data[16:24])  # IHDR comes first
    return width, height


async def test_held_badges_are_served_as_json_png_and_svg(
    node: RunningNode, session: aiohttp.ClientSession
) -> None:
    art = _tiny_png(3, 2)
    badge = _badge(image="data:image/png;base64," + base64.b64encode(art).decode())
    plain = _badge()
    uid = multibase_encode_b58(save_badge(node.store, badge, {"role": "issued"}))
    plain_uid = multibase_encode_b58(save_badge(node.store, plain, {"role": "issued"}))
    base = f"{node.gateway_url}/badges/"

    for suffix in ("", ".json"):
        async with session.get(base + uid + suffix) as response:
            assert response.status == 200
            assert await response.json() == badge
    async with session.get(f"{base}urn:bns:{uid}") as response:
        assert await response.json() == badge

    async with session.get(f"{base}{uid}.png") as response:
        assert response.content_type == "image/png"
        baked = await response.read()
    assert _png_size(baked) == (3, 2)  # the class image, not the default medal
    assert json.loads(unbake(baked).payload) == badge
    async with session.get(f"{base}{plain_uid}.png") as response:
        baked = await response.read()
    assert _png_size(baked) == _png_size(default_png())
    assert json.loads(unbake(baked).payload) == plain

    async with session.get(f"{base}{plain_uid}.svg") as response:
        assert response.content_type == "image/svg+xml"
        svg = await response.read()
    assert b"Mesh networking" in svg and json.loads(unbake(svg).payload) == plain


async def test_refused_hidden_pending_and_unknown_badges_are_not_served(
    node: RunningNode, session: aiohttp.ClientSession
) -> None:
    base = f"{node.gateway_url}/badges/"
    rejected = multibase_encode_b58(save_badge(node.store, _badge(), {"state": "rejected"}))
    hidden = multibase_encode_b58(save_badge(node.store, _badge(), {"state": "hidden"}))
    pending = multibase_encode_b58(save_badge(node.store, _badge(), {"state": "inbox"}))
    unknown = multibase_encode_b58(ISSUER.sign(b"nothing"))
    for uid in (rejected, hidden, pending, unknown):
        for suffix in ("", ".json", ".png", ".svg"):
            async with session.get(base + uid + suffix) as response:
                await _problem(response, 404, "badge_not_found")


# -- identity and description ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "did"),
    [
        ("localhost:4880", "did:web:localhost%3A4880"),
        ("badges.example.org", "did:web:badges.example.org"),
        ("127.0.0.1:4880", "did:web:localhost%3A4880"),
    ],
)
async def test_the_did_web_document_names_the_host_asked_and_the_node_key(
    node: RunningNode, session: aiohttp.ClientSession, host: str, did: str
) -> None:
    url = f"{node.gateway_url}/.well-known/did.json"
    async with session.get(url, headers={"Host": host}) as response:
        assert response.status == 200
        document = await response.json()
    assert document["id"] == did
    assert list(read_did_document(document, did).values()) == [node.key.public_key]


async def test_a_did_web_needs_a_name_not_an_address(
    node: RunningNode, session: aiohttp.ClientSession
) -> None:
    url = f"{node.gateway_url}/.well-known/did.json"
    async with session.get(url, headers={"Host": "192.0.2.7"}) as response:
        await _problem(response, 404, "did_web_needs_domain")
    async with session.get(url, headers={"Host": "bad_host!"}) as response:
        assert response.status == 400 and response.content_type == PROBLEM


def test_every_route_of_the_app_is_documented(tmp_path: Path) -> None:
    """Fails when a route module registers a route without a row in node/openapi.py."""
    app = Node(tmp_path, KeyPair.generate(), NodeConfig(), TOKEN).build_app()
    routes = registered_routes(app)
    table = {(op.method, op.path) for op in OPERATIONS}
    assert not routes - table, f"undocumented routes: {sorted(routes - table)}"
    document = build_document(app)
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert documented == routes


def test_the_document_is_consistent() -> None:
    document = build_document()
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]
    refs = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if "$ref" in value:
                refs.add(value["$ref"].rsplit("/", 1)[-1])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    assert refs <= schemas.keys()
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    for path, operations in document["paths"].items():
        for operation in operations.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), path
            admin = path.startswith("/admin") or path == "/credentials/issue"
            assert ("security" in operation) == admin, path
            assert "401" in operation["responses"] or not admin


async def test_the_served_document_lists_the_public_routes(
    node: RunningNode, session: aiohttp.ClientSession
) -> None:
    async with session.get(f"{node.gateway_url}/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    paths = document["paths"]
    for path, method in [
        ("/verify", "post"),
        ("/verify/{uid}", "get"),
        ("/credentials/verify", "post"),
        ("/badges/{uid}.png", "get"),
        ("/issuers/{did}/badges", "get"),
        ("/earners/{id}/badges", "get"),
        ("/.well-known/did.json", "get"),
        ("/openapi.json", "get"),
        ("/bns/{uid}", "get"),
    ]:
        assert method in paths.get(path, {}), path


# -- bad input -------------------------------------------------------------------------------


async def _too_large_report(response: aiohttp.ClientResponse) -> None:
    report = await response.json()
    assert response.status == 200
    assert (report["verdict"], report["checks"][0]["code"]) == ("invalid", "input_too_large")


async def test_oversized_bodies_are_refused(
    node: RunningNode, session: aiohttp.ClientSession
) -> None:
    too_big = b"{" + b" " * MAX_INPUT_BYTES
    headers = {"Content-Type": "application/json"}
    url = f"{node.gateway_url}/verify"
    async with session.post(url, data=io.BytesIO(too_big), headers=headers) as r:
        await _too_large_report(r)  # issue 10: a badge over the limit gets a report

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(MAX_INPUT_BYTES // (1 << 20) + 2):
            yield b" " * (1 << 20)

    async with session.post(f"{node.gateway_url}/verify", data=chunked(), headers=headers) as r:
        await _too_large_report(r)
    async with session.post(
        f"{node.gateway_url}/credentials/verify", data=io.BytesIO(b" " * (2 << 20)), headers=headers
    ) as r:
        await _problem(r, 413, "body_too_large")
    form = aiohttp.FormData()
    form.add_field(
        "file", io.BytesIO(too_big), filename="badge.json", content_type="application/json"
    )
    async with session.post(f"{node.gateway_url}/verify", data=form) as r:
        await _too_large_report(r)
    await _still_serving(session, node)


@pytest.mark.parametrize(
    ("path", "media"),
    [
        ("/verify", "application/xml"),
        ("/verify", "application/octet-stream"),
        ("/verify", "application/x-www-form-urlencoded"),
        ("/credentials/verify", "text/html"),
        ("/credentials/verify", "image/png"),
    ],
)
async def test_wrong_media_types_are_refused(
    node: RunningNode, session: aiohttp.ClientSession, path: str, media: str
) -> None:
    async with session.post(
        node.gateway_url + path, data=b"{}", headers={"Content-Type": media}
    ) as response:
        await _problem(response, 415, "unsupported_media_type")
    await _still_serving(session, node)


@pytest.mark.parametrize(
    "path",
    [
        "/verify/not-a-uid",
        "/verify/z111",
        "/bns/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz0",
        "/badges/x",
        "/badges/" + "z" * 200 + ".png",
        "/badges/urn:bns:abc.json",
    ],
)
async def test_bad_uids_are_refused(
    node: RunningNode, session: aiohttp.ClientSession, path: str
) -> None:
    async with session.get(node.gateway_url + path) as response:
        await _problem(response, 400, "uid_invalid")
    await _still_serving(session, node)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/issuers/did:web:example.org/badges", "did_unsupported"),
        ("/issuers/did:key:z6Mkbad/badges", "multikey_invalid"),
        (f"/earners/{EARNER.did}/badges?page=-1", "page_invalid"),
        (f"/earners/{EARNER.did}/badges?page=1e9", "page_invalid"),
        (f"/issuers/{ISSUER.did}/badges?page=9999999999", "page_invalid"),
    ],
)
async def test_bad_index_requests_are_refused(
    node: RunningNode, session: aiohttp.ClientSession, path: str, code: str
) -> None:
    async with session.get(node.gateway_url + path) as response:
        await _problem(response, 400, code)


async def test_lookups_without_a_dht_are_unavailable_not_errors(
    node: RunningNode, session: aiohttp.ClientSession
) -> None:
    uid = multibase_encode_b58(ISSUER.sign(b"anything"))
    for path in (f"/verify/{uid}", f"/bns/{uid}", f"/issuers/{ISSUER.did}/badges"):
        async with session.get(node.gateway_url + path) as response:
            await _problem(response, 503, "dht_unreachable")
    # POST /verify still answers. An issuer not known to publish to the BNS: its badge is
    # verified as any W3C credential (docs/verification.md, "One policy").
    async with session.post(f"{node.gateway_url}/verify", json=_badge()) as response:
        report = await response.json()
    assert response.status == 200 and report["verdict"] == "valid"
    bns = next(check for check in report["checks"] if check["name"] == "bns")
    assert (bns["status"], bns["code"]) == ("skipped", "bns_unreachable")
    # This node's own badges are on the BNS: without the DHT, the BNS check could not be made.
    own = sign_credential(
        {key: value for key, value in _badge().items() if key != "proof"} | {"issuer": node.did},
        node.key,
        created=dt.datetime.now(dt.UTC),
    )
    async with session.post(f"{node.gateway_url}/verify", json=own) as response:
        report = await response.json()
    assert response.status == 200 and report["verdict"] == "indeterminate"
    bns = next(check for check in report["checks"] if check["name"] == "bns")
    assert (bns["status"], bns["code"]) == ("skipped", "dht_unreachable")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(*chunks: bytes) -> bytes:
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 2**31 - 1, 2**31 - 1, 8, 6, 0, 0, 0))
    idat = _chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + idat + _chunk(b"IEND", b"")


def _itxt_bomb() -> bytes:
    """An iTXt credential chunk that inflates to 64 MiB from about 64 KiB."""
    packer = zlib.compressobj(9)
    deflated = b"".join(packer.compress(b"\0" * (1 << 20)) for _ in range(64)) + packer.flush()
    return _chunk(b"iTXt", b"openbadgecredential\0\x01\x00\0\0" + deflated)


@pytest.mark.parametrize(
    ("image", "code"),
    [
        (_png(), "not_baked"),  # 2^31 by 2^31 pixels declared: pixels are never decoded
        (_png(_itxt_bomb()), "input_too_large"),
        (_png()[:33] + struct.pack(">I", 2**31 - 1) + b"tEXt" + b"\0" * 16, "png_truncated"),
    ],
    ids=["huge-dimensions", "itxt-zlib-bomb", "chunk-length-lie"],
)
async def test_png_bombs_get_an_invalid_report_quickly(
    node: RunningNode, session: aiohttp.ClientSession, image: bytes, code: str
) -> None:
    for send in ("raw", "form"):
        started = time.monotonic()
        if send == "raw":
            data: Any = image
            headers = {"Content-Type": "image/png"}
        else:
            data, headers = aiohttp.FormData(), {}
            data.add_field("badge", image, filename="badge.png", content_type="image/png")
        async with session.post(f"{node.gateway_url}/verify", data=data, headers=headers) as r:
            report = await r.json()
        assert time.monotonic() - started < 5
        assert r.status == 200 and report["verdict"] == "invalid"
        assert report["checks"][0]["name"] == "input"
        assert (report["checks"][0]["status"], report["checks"][0]["code"]) == ("failed", code)
    await _still_serving(session, node)


async def test_a_poison_graph_is_refused_by_the_canonicalization_work_limit(
    node: RunningNode, session: aiohttp.ClientSession
) -> None:
    predicate = "https://example.org/knows"
    badge = _badge()
    # Twelve blank nodes, each linked to all the others: every one looks like every other.
    badge["credentialSubject"][predicate] = [
        {"@id": f"_:n{i}", predicate: [{"@id": f"_:n{j}"} for j in range(12) if j != i]}
        for i in range(12)
    ]
    started = time.monotonic()
    async with session.post(f"{node.gateway_url}/verify", json=badge) as response:
        report = await response.json()
    assert time.monotonic() - started < 5
    assert response.status == 200 and report["verdict"] == "invalid"
    proof = next(check for check in report["checks"] if check["name"] == "proof")
    assert (proof["status"], proof["code"]) == ("failed", "canonicalization_work_limit")

    async with session.post(
        f"{node.gateway_url}/credentials/verify", json={"verifiableCredential": badge}
    ) as response:
        await _problem(response, 422, "credential_invalid")
    await _still_serving(session, node)


async def test_garbage_and_malformed_json_are_answered(
    node: RunningNode, session: aiohttp.ClientSession
) -> None:
    for body, media in [
        (b"\xff\xfe\x00garbage", "text/plain"),
        (b'{"a": 1, "a": 2}', "application/json"),
    ]:
        async with session.post(
            f"{node.gateway_url}/verify", data=body, headers={"Content-Type": media}
        ) as response:
            report = await response.json()
        assert response.status == 200 and report["checks"][0]["status"] == "failed"
    async with session.post(
        f"{node.gateway_url}/credentials/verify",
        data=b'{"verifiableCredential": ',
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 400 and response.content_type == PROBLEM
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("note", "no file here")
    async with session.post(f"{node.gateway_url}/verify", data=form) as response:
        await _problem(response, 400, "file_missing")
    await _still_serving(session, node)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/inbox"),
        ("POST", "/admin/issue"),
        ("POST", "/admin/revoke"),
        ("GET", "/admin"),
        ("POST", "/credentials/issue"),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}"])
async def test_admin_calls_need_the_token(
    node: RunningNode,
    session: aiohttp.ClientSession,
    method: str,
    path: str,
    authorization: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with session.request(
        method, node.gateway_url + path, json={}, headers=headers
    ) as response:
        await _problem(response, 401, "admin_token_required")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    await _still_serving(session, node)
