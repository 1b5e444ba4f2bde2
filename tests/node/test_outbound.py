"""What a public node may connect to when the network tells it where to go: global
addresses only (node/outbound.py). Everything here runs on 127.0.0.1, which is exactly
what a public node must refuse."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from badgechain.bns.record import Uid
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.resolve import Unreachable
from badgechain.node.config import ConfigError, NodeConfig, load_config, save_config
from badgechain.node.outbound import (
    GlobalOnlyConnector,
    client_session,
    only_global,
    refused_address,
)
from badgechain.node.resolvers import fetch_badge_by_uid
from tests.node.conftest import NodeNetwork, eventually
from tests.node.test_status import _admin, _issue


@pytest.fixture
async def local_server() -> AsyncIterator[int]:
    """A loopback HTTP server standing in for a service behind a firewall."""

    async def secret(request: web.Request) -> web.Response:
        return web.Response(text="internal")

    app = web.Application()
    app.router.add_get("/", secret)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "127.1", "0.0.0.0"],  # noqa: S104
)
async def test_a_global_only_session_refuses_loopback_in_any_spelling(
    local_server: int, host: str
) -> None:
    async with aiohttp.ClientSession(connector=GlobalOnlyConnector()) as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"http://{host}:{local_server}/") as response:
                await response.read()


async def test_an_unguarded_session_reaches_the_same_server(local_server: int) -> None:
    async with (
        client_session(NodeConfig()) as session,
        session.get(f"http://127.0.0.1:{local_server}/") as response,
    ):
        assert await response.text() == "internal"


def test_only_public_nodes_are_guarded_unless_told_otherwise() -> None:
    assert not only_global(NodeConfig())
    assert only_global(NodeConfig(public=True))
    assert not only_global(NodeConfig(public=True, fetch_private=True))


async def test_a_public_node_will_not_fetch_a_badge_from_a_private_location(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    """The earner's location is a loopback URL: a verifier acting as a public node refuses
    to go there (the badge is unreachable for it), and fetches it once allowed."""
    issuer, earner, verifier = await node_network.start(3)
    uid = (await _issue(node_network, http, issuer, earner.did))["uid"]

    async def delivered() -> bool:
        async with http.get(earner.gateway_url + "/admin/inbox", headers=node_network.admin) as r:
            return uid in {item["uid"] for item in (await r.json())["badges"]}

    await eventually(delivered, timeout=15)
    status, answer = await _admin(node_network, http, earner, "/admin/accept", {"uid": uid})
    assert status == 200, answer
    raw_uid = Uid(multibase_decode(uid))

    verifier = dataclasses.replace(
        verifier, config=dataclasses.replace(verifier.config, public=True)
    )
    with pytest.raises(Unreachable):
        await fetch_badge_by_uid(verifier, raw_uid)
    verifier = dataclasses.replace(
        verifier, config=dataclasses.replace(verifier.config, fetch_private=True)
    )
    assert uid.encode() in await fetch_badge_by_uid(verifier, raw_uid)


def test_fetch_private_round_trips_through_config_toml(tmp_path: Path) -> None:
    config = NodeConfig(name="n", public=True, fetch_private=True)
    save_config(tmp_path, config)
    assert load_config(tmp_path) == config
    (tmp_path / "config.toml").write_text('[node]\nfetch_private = "yes"\n')
    with pytest.raises(ConfigError):
        load_config(tmp_path)


async def test_fetch_allow_opens_only_the_networks_it_names(
    local_server: int, tmp_path: Path
) -> None:
    """A guarded config told `fetch_allow = ["127.0.0.1/32"]` reaches that host; any other
    private address is an AddressRefused (its own error code for the callers)."""
    config = NodeConfig(public=True, fetch_allow=("127.0.0.1/32",))
    save_config(tmp_path, config)
    assert load_config(tmp_path) == config
    async with (
        client_session(config) as session,
        session.get(f"http://127.0.0.1:{local_server}/") as response,
    ):
        assert await response.text() == "internal"
    for url in (f"http://127.0.0.2:{local_server}/", f"http://[::1]:{local_server}/"):
        async with client_session(config) as session:
            with pytest.raises(aiohttp.ClientConnectorError) as refused:
                await session.get(url)
            assert refused_address(refused.value)
    (tmp_path / "config.toml").write_text('[node]\nfetch_allow = ["10.0.0.0/33"]\n')
    with pytest.raises(ConfigError):
        load_config(tmp_path)
