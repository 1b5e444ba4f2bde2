"""Every route answers as its declaration (node/routes.py) says, on a real node on 127.0.0.1:
each route the running app's router holds is declared; one declared admin refuses a call
without the token (401) and one declared public never asks for it; a declared body is
refused past its size limit and in a media type it does not list."""

from __future__ import annotations

import io
import re
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from badgechain.chain.keys import KeyPair
from badgechain.node.app import build_app
from badgechain.node.routes import (
    Access,
    Answer,
    Body,
    Route,
    declarations,
    register,
    undeclared_routes,
)
from badgechain.node.web import AdminToken
from tests.node.conftest import NodeNetwork

SAMPLES = {  # a well-formed value for each path parameter
    "uid": "z" + "1" * 87,
    "did": KeyPair.generate().did,
    "id": KeyPair.generate().did,
    "class_id": "nope",
    "batch_id": "nope",
    "course_id": "nope",
    "submission_id": "nope",
    "webmention_id": "nope",
    "list_id": "A" * 12,
    "name": "index.html",
    "item_id": "publish:00",
    "did_path": "school",
}


def _path(path: str) -> str:
    filled = re.sub(r"\{(\w+)\}", lambda match: SAMPLES[match.group(1)], path)
    return filled.replace(SAMPLES["id"], "A" * 22) if path.startswith("/collections/") else filled


async def test_every_registered_route_answers_as_declared(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """Walks the running app's router, HEAD included: admin iff 401 without the token."""
    (node,) = await node_network.start(1)
    app = node.runner.app
    assert not undeclared_routes(app), undeclared_routes(app)
    routes = declarations(app)
    assert any(route.admin for route in routes.values())
    assert any(not route.admin for route in routes.values())
    for registered, route in routes.items():
        assert registered.resource is not None
        assert registered.resource.canonical == route.path
        url = node.gateway_url + _path(route.path)
        async with http.request(registered.method, url, json={}) as response:
            refused = response.status == 401
        assert refused == route.admin, (registered.method, route.path, response.status)
        if route.admin:
            async with http.request(
                registered.method, url, json={}, headers=node_network.admin
            ) as response:
                assert response.status != 401, (registered.method, route.path)


async def test_an_unknown_path_under_admin_needs_the_token(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    async with http.get(f"{node.gateway_url}/admin/nothing-here") as response:
        assert response.status == 401
    async with http.get(
        f"{node.gateway_url}/admin/nothing-here", headers=node_network.admin
    ) as response:
        assert response.status == 404


async def test_declared_bodies_are_bounded_and_typed(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """A parsed body past its declared limit is a 413 with its declared code; a media type
    its declaration does not list is a 415, before the handler runs."""
    (node,) = await node_network.start(1)
    with_bodies = {
        route for route in declarations(node.runner.app).values() if route.body is not None
    }
    assert with_bodies
    for route in with_bodies:
        assert route.body is not None
        url = node.gateway_url + _path(route.path)
        headers = node_network.admin | {"Content-Type": "application/pdf"}
        async with http.request(route.method, url, data=b"{}", headers=headers) as response:
            assert response.status == 415, route.path
            assert (await response.json())["code"] == "unsupported_media_type"
        if route.body.parsed:
            too_big = b"[" + b" " * route.body.max_bytes + b"]"
            headers = node_network.admin | {"Content-Type": route.body.media[0]}
            async with http.request(
                route.method, url, data=io.BytesIO(too_big), headers=headers
            ) as response:
                assert response.status == 413, route.path
                assert (await response.json())["code"] == route.body.too_large


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def test_a_route_added_past_the_declarations_is_found(tmp_path: Path) -> None:
    app = build_app(AdminToken("t" * 40))
    assert not undeclared_routes(app)
    app.router.add_get("/backdoor", _ok)
    assert [route.resource.canonical for route in undeclared_routes(app) if route.resource] == [
        "/backdoor",
        "/backdoor",  # GET and HEAD
    ]


def test_declarations_that_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError, match="admin"):
        Route("GET", "/admin/open", _ok, "oops", access=Access.PUBLIC, ok=Answer("Json"))
    with pytest.raises(ValueError, match="JSON"):
        Body("Binary", media=("image/png",))
    with pytest.raises(ValueError, match="no body"):
        Route("GET", "/x", _ok, "x", access=Access.PUBLIC, ok=Answer("Json"), body=Body("Json"))


async def test_a_new_admin_route_outside_admin_needs_the_token(
    http: aiohttp.ClientSession,
) -> None:
    """Declared admin is enough: no prefix list to forget (issue 11)."""
    app = build_app(AdminToken("t" * 40))
    register(app, [Route("GET", "/secret", _ok, "s", access=Access.ADMIN, ok=Answer("Text"))])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/secret"
        async with http.get(url) as response:
            assert response.status == 401
        bearer = {"Authorization": "Bearer " + "t" * 40}
        async with http.get(url, headers=bearer) as response:
            assert response.status == 200
    finally:
        await runner.cleanup()
