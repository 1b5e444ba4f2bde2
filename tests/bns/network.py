"""A network of DHT nodes in one process on 127.0.0.1, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from badgechain.bns.dht import DhtNode, DhtSettings
from badgechain.bns.record import Entry, Uid, make_entry
from badgechain.bns.values import BnsValues
from badgechain.chain.keys import KeyPair
from badgechain.storage import LevelStore, MemoryStore, Store

# Quick enough for tests: loopback answers in well under a millisecond, and an id puzzle of
# 4 bits costs 16 hashes (the shipped 20 bits would cost each test node half a second).
TEST_ID_DIFFICULTY = 4
TEST_SETTINGS = DhtSettings(
    rpc_timeout=0.5, liveness_interval=0.5, id_difficulty=TEST_ID_DIFFICULTY
)


def make_badge_entry(issuer: KeyPair, earner: KeyPair | None, created: int = 1) -> Entry:
    """An entry for a fresh badge: the UID is the issuer's signature over random bytes."""
    signing_input = os.urandom(64)
    uid = Uid(issuer.sign(signing_input))
    return make_entry(issuer, uid, signing_input, earner.public_key if earner else None, created)


def _is_running(node: DhtNode | None) -> bool:
    transport = None if node is None else node.protocol.transport
    return transport is not None and not transport.is_closing()


@dataclass
class Network:
    settings: DhtSettings = TEST_SETTINGS
    directory: Path | None = None  # LevelDB per node when set, else memory
    difficulty: int = 0
    nodes: list[DhtNode] = field(default_factory=list)
    keys: list[KeyPair] = field(default_factory=list)
    stores: list[Store] = field(default_factory=list)

    def _open_store(self, index: int) -> Store:
        if self.directory is None:
            return MemoryStore()
        return LevelStore(str(self.directory / f"node{index}"))

    async def start_node(
        self, index: int, port: int = 0, key: KeyPair | None = None, host: str = "127.0.0.1"
    ) -> DhtNode:
        """Start node `index` (again, after `stop_node`: same key, same LevelDB, new port).

        `key` replaces the node's key pair, e.g. one ground to sit near an address.
        """
        while len(self.keys) <= index:
            self.keys.append(KeyPair.generate())
            self.nodes.append(None)  # type: ignore[arg-type]
            self.stores.append(None)  # type: ignore[arg-type]
        if key is not None:
            self.keys[index] = key
        store = self._open_store(index)
        node = DhtNode(
            self.keys[index].public_key, store, BnsValues(self.difficulty), self.settings
        )
        await node.listen(port, host)
        self.nodes[index], self.stores[index] = node, store
        return node

    async def start(self, count: int, hosts: Sequence[str] = ()) -> None:
        """Start `count` nodes, node i on hosts[i] when given (127.0.0.x are separate hosts)."""
        for index in range(count):
            await self.start_node(index, host=hosts[index] if hosts else "127.0.0.1")
        first = self.nodes[0].address
        # Join in small groups, each through the first node: it is how a real network grows.
        for start in range(1, count, 10):
            group = self.nodes[start : start + 10]
            await asyncio.gather(*(node.bootstrap([first]) for node in group))
        await asyncio.gather(*(node.bootstrap([first]) for node in self.nodes[1:]))

    @property
    def live(self) -> list[DhtNode]:
        return [n for n in self.nodes if _is_running(n)]

    def closest_live(self, address: bytes, count: int) -> list[DhtNode]:
        """The `count` live nodes nearest `address` by XOR distance, by brute force."""
        target = int.from_bytes(address, "big")
        return sorted(self.live, key=lambda n: int.from_bytes(n.me.id, "big") ^ target)[:count]

    async def stop_node(self, index: int) -> None:
        node = self.nodes[index]
        await node.stop()
        self.stores[index].close()

    async def stop(self) -> None:
        for index, node in enumerate(self.nodes):
            if _is_running(node):
                await self.stop_node(index)

    def random_live(self, rng: random.Random, exclude: Sequence[int] = ()) -> DhtNode:
        choices = [n for i, n in enumerate(self.nodes) if i not in exclude and n in self.live]
        return rng.choice(choices)
