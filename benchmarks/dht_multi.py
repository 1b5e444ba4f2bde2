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
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
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

LAG_TICK_S = 0.01  # the loop-lag sampler's period
IDLE, IDLE_S = "joined, nothing asked (5 s)", 5.0

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
    # Per phase, per worker: how busy its loop was (`Worker.busy_report`).
    busy: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    # Per phase: (seconds, hops, requests, asker's hedge delay) of each resolve.
    traces: dict[str, list[tuple[float, int, int, float]]] = field(default_factory=dict)


class Worker:
    """The nodes of one process, and the commands the parent sends it."""

    def __init__(self, index: int, seed: int) -> None:
        from benchmarks.dht import SETTINGS  # the benchmark's settings, here too

        self.index = index
        self.rng = random.Random(seed * 100 + index)
        self.net = Network(settings=SETTINGS)
        self.served: Counter[str] = Counter()  # requests answered here, by method
        self.lags: list[float] = []  # how late each loop-lag tick woke (seconds)
        self.marks: dict[str, dict[str, float]] = {}

    def _counted(self, node: DhtNode) -> DhtNode:
        """Count the requests `node` answers, by method (the handlers stay the node's own)."""
        for method in ("ping", "store", "find_node", "find_value"):
            handler = node.protocol.answer_with(method, lambda *args: None)
            node.protocol.answer_with(method, self._counting(method, handler))
        return node

    def _counting(self, method: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            self.served[method] += 1
            return handler(*args)

        return counted

    async def _sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_TICK_S
            await asyncio.sleep(LAG_TICK_S)
            self.lags.append(loop.time() - due)

    async def mark(self, name: str) -> None:
        """Start a window of the loop's work, to be reported by `busy_report`."""
        self.marks[name] = self._totals()

    def _totals(self) -> dict[str, float]:
        nodes = [n for n in self.net.nodes if n is not None]
        sent = sum(n.stats["rpcs_sent"] for n in nodes)
        liveness = sum(n.stats["liveness_pings"] for n in nodes)
        return {
            "cpu": time.process_time(),
            "runqueue": _runqueue_seconds(),
            "wall": time.perf_counter(),
            "lag_index": len(self.lags),
            "sent": sent,
            "liveness": liveness,
            **{f"served {m}": c for m, c in self.served.items()},
        }

    async def busy_report(self, name: str) -> dict[str, float]:
        """CPU share, loop lag (p50 / p95 / max ms) and requests sent and answered since
        `mark(name)`, per second of wall time."""
        start, end = self.marks.pop(name), self._totals()
        wall = end["wall"] - start["wall"]
        lags = sorted(self.lags[int(start["lag_index"]) :]) or [math.nan]
        out = {
            "wall s": wall,
            "cpu share": (end["cpu"] - start["cpu"]) / wall,
            # Time the loop's thread was ready to run but waited for a core (other processes).
            "runqueue share": (end["runqueue"] - start["runqueue"]) / wall,
            "lag p50 ms": 1000 * lags[len(lags) // 2],
            "lag p95 ms": 1000 * lags[min(len(lags) - 1, int(len(lags) * 0.95))],
            "lag max ms": 1000 * lags[-1],
        }
        for key in end:
            if key in ("sent", "liveness") or key.startswith("served "):
                out[f"{key}/s"] = (end[key] - start.get(key, 0)) / wall
        return out

    def live(self) -> list[DhtNode]:
        return self.net.live

    async def start(self, count: int) -> list[tuple[str, int]]:
        for i in range(count):
            self._counted(await self.net.start_node(i))
        asyncio.get_running_loop().create_task(self._sample_lag())
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

    async def resolve(
        self, items: list[tuple[bytes, bytes]]
    ) -> list[tuple[float, bool, int, int, float]]:
        """(seconds, resolved, requests, hops, asker's hedge delay) per item, one fetch
        after another."""
        out = []
        for address, wire in items:
            asker = self.rng.choice(self.live())
            hedge = asker.protocol.hedge_delay
            sent, started = asker.stats["rpcs_sent"], time.perf_counter()
            hops = 0
            try:
                result = await asker.fetch(address)
                value, hops = result.value, result.rounds
            except BadgeChainError:
                value = None
            seconds = time.perf_counter() - started
            want = Record.from_wire_bytes(wire).entry
            ok = value is not None and Record.from_wire_bytes(value).entry == want
            out.append((seconds, ok, asker.stats["rpcs_sent"] - sent, hops, hedge))
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
            node = self._counted(
                await self.net.start_node(len(self.net.nodes), key=KeyPair.generate())
            )
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


def _runqueue_seconds() -> float:
    """Seconds this thread has waited, runnable, for a CPU (Linux schedstat); NaN elsewhere."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return math.nan


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


async def resolve_phase(
    cluster: Cluster, items: list[Item], report: MultiReport, label: str
) -> Phase:
    """Each item resolved once, the items dealt round-robin to the workers; how busy each
    worker's loop was meanwhile goes into `report.busy[label]`."""
    count = len(cluster.pipes)
    shares = [[(i.address, i.wire) for i in items[w::count]] for w in range(count)]
    phase, traces = Phase(), report.traces.setdefault(label, [])
    await cluster.each("mark", [(label,)] * count)
    for results in await cluster.each("resolve", [(share,) for share in shares]):
        for seconds, ok, rpcs, hops, hedge in results:
            phase.record(seconds, rpcs, ok)
            phase.hedge_delays.append(hedge)
            traces.append((seconds, hops, rpcs, hedge))
    report.busy[label] = await cluster.each("busy_report", [(label,)] * count)
    report.phases[label] = phase
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
        await cluster.each("mark", [(IDLE,)] * processes)
        await asyncio.sleep(IDLE_S)  # the background work alone, for the busy table
        report.busy[IDLE] = await cluster.each("busy_report", [(IDLE,)] * processes)
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
        await resolve_phase(cluster, items, report, ALL_UP)
        before = await cluster.each("failures", [()] * processes)
        await cluster.each("stop", [(STOP_FRACTION,)] * processes)
        await resolve_phase(cluster, items, report, AFTER_STOP_20)
        await asyncio.sleep(SETTINGS.rpc_timeout)  # the phase's last requests end
        after = await cluster.each("failures", [()] * processes)
        report.refused_after_stop = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
        report.timeouts_after_stop = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
        watch.lap("resolved twice")
        replaced = round(size * CHURN_FRACTION / processes)
        await cluster.each("churn", [(options.churn, replaced)] * processes)
        await resolve_phase(cluster, items, report, AFTER_CHURN)
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
    print_busy(report)


def print_busy(report: MultiReport) -> None:
    """Per phase and worker: CPU share, loop lag, and requests sent and answered a second;
    then what the slowest 5% of each phase's resolves were made of."""
    print(
        "\n| phase | worker | CPU share | waiting for a core | loop lag p50 / p95 / max ms "
        "| sent/s (liveness pings) | answered/s: ping / find_node / find_value / store |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, workers in report.busy.items():
        for index, b in enumerate(workers):
            answered = " / ".join(
                f"{b.get(f'served {m}/s', 0):,.0f}"
                for m in ("ping", "find_node", "find_value", "store")
            )
            print(
                f"| {label} | {index} | {b['cpu share']:.0%} | {b['runqueue share']:.0%} | "
                f"{b['lag p50 ms']:.1f} / "
                f"{b['lag p95 ms']:.1f} / {b['lag max ms']:.0f} | {b['sent/s']:,.0f} "
                f"({b['liveness/s']:,.0f}) | "
                f"{answered} |"
            )
    for label, traces in report.traces.items():
        if not traces:
            continue
        ordered = sorted(traces)
        slow = ordered[-max(1, len(ordered) // 20) :]
        rest = ordered[: len(ordered) - len(slow)] or slow

        def mean(rows: list[tuple[float, int, int, float]], at: int) -> float:
            return sum(r[at] for r in rows) / len(rows)

        print(
            f"{label}: slowest 5% ({len(slow)}) took {mean(slow, 0) * 1000:,.0f} ms in "
            f"{mean(slow, 1):.1f} hops, {mean(slow, 2):.1f} requests, asker's hedge delay "
            f"{mean(slow, 3) * 1000:.0f} ms; the others {mean(rest, 0) * 1000:,.0f} ms in "
            f"{mean(rest, 1):.1f} hops, {mean(rest, 2):.1f} requests, hedge delay "
            f"{mean(rest, 3) * 1000:.0f} ms"
        )
