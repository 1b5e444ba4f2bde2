"""A deterministic network for DHT nodes: in-process datagrams on a virtual clock.

`VirtualClockLoop` is an asyncio loop whose clock only moves when nothing is ready to run: it
jumps to the next timer instead of sleeping, so an hour of a network's life takes as long as
the work done in it, and a run is the same every time for one seed. `SimNetwork` carries
datagrams between `SimTransport`s with seeded latency, jitter (which reorders), loss and
partitions. The real `DhtNode` runs on it unchanged (`DhtNode.attach`), so what the tests and
the simulation command measure is the code that runs on sockets.
"""

from __future__ import annotations

import asyncio
import math
import random
import selectors
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["SimNetwork", "SimTransport", "VirtualClockLoop", "run_simulated"]

Address = tuple[str, int]
T = TypeVar("T")


class _JumpingSelector(selectors.SelectSelector):
    """Never waits: a wait for `timeout` seconds moves the loop's clock by that much."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualClockLoop | None = None

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("the simulated network is idle: nothing will ever happen")
        if timeout > 0 and self.loop is not None:
            self.loop.advance(timeout)
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time (no real I/O may be used on it)."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual_now = 0.0
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        self._virtual_now += seconds


def run_simulated(main: Callable[[], Coroutine[Any, Any, T]], seed: int = 0) -> T:
    """Run `main()` to the end on a fresh virtual clock, with the global `random` seeded."""
    random.seed(seed)  # the nodes' background jitter
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        leftovers = asyncio.all_tasks(loop)  # nodes still running when `main` returned
        for task in leftovers:
            task.cancel()
        if leftovers:
            loop.run_until_complete(_drain(leftovers))
        loop.close()


async def _drain(tasks: set[asyncio.Task[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class LinkModel:
    """How datagrams travel: each one's delay is drawn in [latency, latency + jitter]."""

    latency: float = 0.010
    jitter: float = 0.020  # datagrams sent close together may arrive in another order
    loss: float = 0.0  # fraction of datagrams lost
    # Arrivals are rounded up to this grid and each instant's datagrams delivered by one
    # timer (one per datagram made the loop's timer heap a tenth of a large run's CPU);
    # 0 delivers each at its own instant.
    tick: float = 0.001


@dataclass
class SimNetwork:
    """Delivers datagrams between attached protocols; seeded, so runs repeat exactly."""

    seed: int = 0
    link: LinkModel = field(default_factory=LinkModel)
    endpoints: dict[Address, SimTransport] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=lambda: {"sent": 0, "lost": 0, "cut": 0})
    _groups: dict[Address, int] = field(default_factory=dict)  # partition side per address
    _next_port: int = 10_000
    # Datagrams in flight by tick of arrival, in the order sent.
    _due: dict[int, list[tuple[bytes, Address, Address]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311  # a simulation, not a secret

    def open(self, protocol: asyncio.DatagramProtocol, host: str = "10.0.0.1") -> SimTransport:
        """A transport at a fresh address on `host`, already connected to `protocol`."""
        self._next_port += 1
        address = (host, self._next_port)
        transport = SimTransport(self, address, protocol)
        self.endpoints[address] = transport
        protocol.connection_made(transport)
        return transport

    def partition(self, *sides: Iterable[Address]) -> None:
        """Cut the network: datagrams only travel within one side (unlisted: side 0)."""
        self._groups = {a: i + 1 for i, side in enumerate(sides) for a in side}

    def heal(self) -> None:
        self._groups = {}

    def send(self, data: bytes, source: Address, destination: Address) -> None:
        self.stats["sent"] += 1
        link = self.link
        if link.loss and self.rng.random() < link.loss:
            self.stats["lost"] += 1
            return
        if self._groups.get(source, 0) != self._groups.get(destination, 0):
            self.stats["cut"] += 1
            return
        delay = link.latency + self.rng.random() * link.jitter
        loop = asyncio.get_running_loop()
        if not link.tick:
            loop.call_later(delay, self._arrive, data, source, destination)
            return
        tick = math.ceil((loop.time() + delay) / link.tick)
        batch = self._due.get(tick)
        if batch is None:
            self._due[tick] = batch = []
            loop.call_at(tick * link.tick, self._arrive_all, tick)
        batch.append((data, source, destination))

    def _arrive_all(self, tick: int) -> None:
        for data, source, destination in self._due.pop(tick):
            self._arrive(data, source, destination)

    def _arrive(self, data: bytes, source: Address, destination: Address) -> None:
        transport = self.endpoints.get(destination)
        if transport is not None and not transport._closing:
            transport.protocol.datagram_received(data, source)


class SimTransport(asyncio.DatagramTransport):
    """One node's end of the simulated network."""

    def __init__(
        self, network: SimNetwork, address: Address, protocol: asyncio.DatagramProtocol
    ) -> None:
        super().__init__()
        self.network = network
        self.address = address
        self.protocol = protocol
        self._closing = False

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        if not self._closing and addr is not None:
            self.network.send(bytes(data), self.address, (addr[0], addr[1]))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.address if name == "sockname" else default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._closing = True
        self.network.endpoints.pop(self.address, None)

    def abort(self) -> None:
        self.close()


def start_simulated(node: Any, network: SimNetwork, host: str = "10.0.0.1") -> Address:
    """Attach a `DhtNode` to `network` at a fresh address and start its background work."""
    transport = network.open(node.protocol, host)
    result: Address = node.attach(transport)
    return result
