"""One BadgeChain DHT of N nodes split over several processes, on real UDP (127.0.0.1).

    .venv/bin/python -m benchmarks.dht --sizes 1000 --processes 4 --resolves 200 --churn 30

Each worker process runs N / processes nodes on its own event loop, so a node's answers are
not queued behind the work of all N. The parent drives the phases over pipes: join (worker
0 first, the others through its nodes), publish the records from random nodes everywhere,
resolve each once with every node up, stop 20% of the nodes and resolve right away, then
replace 10% more of the original N over `--churn` seconds (one node leaves and a fresh one
joins through a random live node of any process) and resolve again. Latencies are measured
in the worker that resolves, one resolve after another there; workers resolve at once.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from badgechain.bns.dht import DhtNode
from badgechain.bns.record import Record
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from benchmarks.dht import (
    ALL_UP,
    SETTINGS,
    Item,
    Options,
    Phase,
    Publishing,
    Stopwatch,
    _row,
    make_items,
)
from tests.bns.network import Network

AFTER_STOP_20, AFTER_CHURN = "right after 20% stop", "after churn"
STOP_FRACTION = 0.2
CHURN_FRACTION = 0.1  # of N, replaced during the churn phase
PUBLISH_CONCURRENCY = 10
JOIN_GROUP = 10


@dataclass
class MultiReport:
    size: int
    processes: int
    phases: dict[str, Phase] = field(default_factory=dict)
    publishing: Publishing | None = None
    fewest_held_after_churn: int | None = None
    contacts: list[int] = field(default_factory=list)
    # Requests of live nodes that failed from the stop until its phase's last timeout ran out:
    # refused at once (the stopped port's ICMP error) and timed out.
    refused_after_stop: int = 0
    timeouts_after_stop: int = 0


class Worker:
    """The nodes of one process, and the commands the parent sends it."""

    def __init__(self, index: int, seed: int) -> None:
        from benchmarks.dht import SETTINGS  # the benchmark's settings, here too

        self.index = index
        self.rng = random.Random(seed * 100 + index)
        self.net = Network(settings=SETTINGS)

    def live(self) -> list[DhtNode]:
        return self.net.live

    async def start(self, count: int) -> list[tuple[str, int]]:
        for i in range(count):
            await self.net.start_node(i)
        return [n.address for n in self.net.nodes]

    async def join(self, seeds: list[tuple[str, int]]) -> list[int]:
        nodes = [n for n in self.live() if n.address not in seeds]
        for start in range(0, len(nodes), JOIN_GROUP):
            group = nodes[start : start + JOIN_GROUP]
            await asyncio.gather(*(n.bootstrap([self.rng.choice(seeds)]) for n in group))
        return [n.contact_count() for n in self.live()]

    async def publish(self, wires: list[bytes]) -> list[int | None]:
        gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

        async def one(wire: bytes) -> int | None:
            async with gate:
                try:
                    return (await self.rng.choice(self.live()).publish(wire)).accepted
                except BadgeChainError:
                    return None

        return list(await asyncio.gather(*(one(w) for w in wires)))

    async def resolve(self, items: list[tuple[bytes, bytes]]) -> list[tuple[float, bool, int]]:
        """(seconds, resolved, requests) per item, one fetch after another."""
        out = []
        for address, wire in items:
            asker = self.rng.choice(self.live())
            sent, started = asker.stats["rpcs_sent"], time.perf_counter()
            try:
                value = (await asker.fetch(address)).value
            except BadgeChainError:
                value = None
            seconds = time.perf_counter() - started
            want = Record.from_wire_bytes(wire).entry
            ok = value is not None and Record.from_wire_bytes(value).entry == want
            out.append((seconds, ok, asker.stats["rpcs_sent"] - sent))
        return out

    async def stop(self, fraction: float) -> int:
        live = [i for i, n in enumerate(self.net.nodes) if n in self.live()]
        chosen = self.rng.sample(live, round(len(live) * fraction))
        for index in chosen:
            await self.net.stop_node(index)
        return len(chosen)

    async def churn(self, seconds: float, count: int) -> int:
        """Replace `count` nodes, evenly over `seconds`: one leaves, a fresh one joins."""
        for _ in range(count):
            await asyncio.sleep(seconds / max(count, 1))
            live = [i for i, n in enumerate(self.net.nodes) if n in self.live()]
            await self.net.stop_node(self.rng.choice(live))
            # Through a node known to be up (the given seeds may have left meanwhile).
            through = self.rng.choice([n.address for n in self.live()])
            node = await self.net.start_node(len(self.net.nodes), key=KeyPair.generate())
            node.spawn(node.bootstrap([through]))
        return count

    async def failures(self) -> tuple[int, int]:
        """Requests refused and timed out so far, over the live nodes."""
        live = self.live()
        return sum(n.stats["rpcs_refused"] for n in live), sum(
            n.stats["rpc_timeouts"] for n in live
        )

    async def held(self, addresses: list[bytes]) -> list[int]:
        live = self.live()
        return [sum(n.held(a) is not None for n in live) for a in addresses]

    async def addresses(self) -> list[tuple[str, int]]:
        return [n.address for n in self.live()]


def worker_main(conn: Connection, index: int, seed: int) -> None:
    asyncio.run(_serve(conn, index, seed))


async def _serve(conn: Connection, index: int, seed: int) -> None:
    worker = Worker(index, seed)
    loop = asyncio.get_running_loop()
    try:
        while True:
            name, args = await loop.run_in_executor(None, conn.recv)
            if name == "quit":
                break
            conn.send(await getattr(worker, name)(*args))
    finally:
        await worker.net.stop()
        conn.send("bye")


class Cluster:
    """The parent's handle on the workers: call one, or all at once."""

    def __init__(self, processes: int, seed: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs = []
        for index in range(processes):
            ours, theirs = context.Pipe()
            proc = context.Process(target=worker_main, args=(theirs, index, seed), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    async def call(self, index: int, name: str, *args: Any) -> Any:
        pipe = self.pipes[index]
        pipe.send((name, args))
        return await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    async def each(self, name: str, per_worker: Sequence[tuple[Any, ...]]) -> list[Any]:
        calls = [self.call(i, name, *args) for i, args in enumerate(per_worker)]
        return list(await asyncio.gather(*calls))

    async def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(("quit", ()))
        for pipe in self.pipes:
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        for proc in self.procs:
            proc.join(10)


# --- the parent -------------------------------------------------------------------------------


async def resolve_phase(cluster: Cluster, items: list[Item], dead: float = math.nan) -> Phase:
    """Each item resolved once, the items dealt round-robin to the workers."""
    count = len(cluster.pipes)
    shares = [[(i.address, i.wire) for i in items[w::count]] for w in range(count)]
    phase = Phase(dead_contacts=dead)
    for results in await cluster.each("resolve", [(share,) for share in shares]):
        for seconds, ok, rpcs in results:
            phase.record(seconds, rpcs, ok)
    return phase


async def fewest_holders(cluster: Cluster, items: list[Item]) -> int:
    counts: list[list[int]] = await cluster.each(
        "held", [([i.address for i in items],)] * len(cluster.pipes)
    )
    # Per item, the holders summed over the workers.
    return min(sum(held[i] for held in counts) for i in range(len(items)))


async def run_multi(options: Options) -> MultiReport:
    size, processes = options.sizes[0], options.processes
    rng = random.Random(options.seed)
    items = make_items(options.resolves, rng)
    report = MultiReport(size, processes)
    watch = Stopwatch(f"N={size} in {processes} processes")
    cluster = Cluster(processes, options.seed)
    try:
        per = [size // processes + (w < size % processes) for w in range(processes)]
        addresses = await cluster.each("start", [(n,) for n in per])
        first = addresses[0][:1]
        await cluster.call(0, "join", first)
        seeds = addresses[0]
        counts = await cluster.each("join", [(seeds,)] * processes)
        report.contacts = sorted(c for worker in counts for c in worker)
        watch.lap("joined")
        started = time.perf_counter()
        shares = [[i.wire for i in items[w::processes]] for w in range(processes)]
        accepted = [a for r in await cluster.each("publish", [(s,) for s in shares]) for a in r]
        report.publishing = Publishing(
            len(items), time.perf_counter() - started, accepted.count(None)
        )
        report.publishing.fewest_replicas = min(
            (a for a in accepted if a is not None), default=None
        )
        report.publishing.fewest_held = await fewest_holders(cluster, items)
        watch.lap(f"published {len(items)}")
        report.phases[ALL_UP] = await resolve_phase(cluster, items)
        before = await cluster.each("failures", [()] * processes)
        await cluster.each("stop", [(STOP_FRACTION,)] * processes)
        report.phases[AFTER_STOP_20] = await resolve_phase(cluster, items)
        await asyncio.sleep(SETTINGS.rpc_timeout)  # the phase's last requests end
        after = await cluster.each("failures", [()] * processes)
        report.refused_after_stop = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
        report.timeouts_after_stop = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
        watch.lap("resolved twice")
        replaced = round(size * CHURN_FRACTION / processes)
        await cluster.each("churn", [(options.churn, replaced)] * processes)
        report.phases[AFTER_CHURN] = await resolve_phase(cluster, items)
        report.fewest_held_after_churn = await fewest_holders(cluster, items)
        watch.lap(f"churned {options.churn:.0f} s, resolved")
        return report
    finally:
        await cluster.close()
        watch.show()


def print_multi(report: MultiReport) -> None:
    log2_size = math.log2(report.size)
    print(f"\n### N = {report.size} in {report.processes} processes (log2 N = {log2_size:.2f})\n")
    print("| phase | resolves | resolved | p50 ms | p95 ms | RPCs/resolve | RPCs/log2 N |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, phase in report.phases.items():
        print(_row(label, phase, log2_size))
    pub = report.publishing
    if pub is not None:
        print(
            f"\npublishing: {pub.entries} in {pub.seconds:.1f} s ({pub.rate:.1f}/s), "
            f"failed {pub.failed}, fewest replicas accepting {pub.fewest_replicas}, "
            f"fewest live holders {pub.fewest_held}; after churn {report.fewest_held_after_churn}"
        )
    print(
        f"from the stop to its phase's end (live nodes, every process): "
        f"{report.refused_after_stop:,} requests refused at once (any request), "
        f"{report.timeouts_after_stop:,} requests to table contacts failed (refused or timed out)"
    )
    contacts = report.contacts
    if contacts:
        print(f"contacts after joining: min {contacts[0]}, median {contacts[len(contacts) // 2]}")
