"""Fixtures for node tests: small networks of real in-process Nodes on 127.0.0.1.

`node_network` yields an empty `NodeNetwork`; `await network.start(3)` starts three nodes,
the first alone and the others joining through it. `restart` stops a node and starts it
again on the same home and key (new ports), as a crashed and restarted process would.
`http` is an aiohttp session; `network.admin` holds the bearer header every node accepts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from badgechain.chain.keys import KeyPair
from badgechain.node.app import Node, RunningNode
from badgechain.node.config import ADMIN_TOKEN_FILE, NodeConfig, save_config
from badgechain.node.services import NodeSettings
from tests.bns.network import TEST_SETTINGS

ADMIN_TOKEN = "test-admin-token-" + "0123456789abcdef" * 2  # as long as a real one
POLL_S = 0.02


class NodeNetwork:
    """Nodes with homes under `root`; stop() stops every node still running."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.nodes: list[RunningNode] = []
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.settings = NodeSettings(dht=TEST_SETTINGS)  # for the nodes started from now on

    async def start(self, count: int, **settings: Any) -> list[RunningNode]:
        for _ in range(count):
            await self.add(**settings)
        return self.nodes

    async def add(
        self, name: str | None = None, key: KeyPair | None = None, **settings: Any
    ) -> RunningNode:
        """Start one more node, joining through the first running one; `settings` are
        NodeConfig fields."""
        name = name or f"node{len(self.nodes)}"
        node = await self._start(name, key or KeyPair.generate(), **settings)
        self.nodes.append(node)
        return node

    async def restart(self, node: RunningNode) -> RunningNode:
        """Stop `node` (if running) and start it again on the same home and key."""
        await node.stop()
        again = await self._start(node.config.name, node.key)
        self.nodes[self.nodes.index(node)] = again
        return again

    async def _start(self, name: str, key: KeyPair, **settings: Any) -> RunningNode:
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        seeds = tuple(n.dht_address for n in self.nodes if not n.stopped.is_set())
        config = NodeConfig(name=name, dht_port=0, http_port=0, bootstrap=seeds, **settings)
        node = Node(home, key, config, ADMIN_TOKEN, settings=self.settings)
        async with asyncio.timeout(10):
            return await node.start()

    def write_cli_home(self, node: RunningNode) -> Path:
        """Write the config.toml and admin.token the CLI reads to reach `node`."""
        save_config(node.home, node.config.with_overrides(http_port=node.http_port))
        (node.home / ADMIN_TOKEN_FILE).write_text(ADMIN_TOKEN)
        return node.home

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Wait until `check()` holds; fail the test when it does not within `timeout` s."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(POLL_S)


@pytest.fixture
async def node_network(tmp_path: Path) -> AsyncIterator[NodeNetwork]:
    network = NodeNetwork(tmp_path)
    try:
        yield network
    finally:
        await network.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield session
