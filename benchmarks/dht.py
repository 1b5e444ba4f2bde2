"""Resolve latency and RPCs per resolve in DHTs of 50, 100 and 200 nodes, against kademlia.

    .venv/bin/python -m benchmarks.dht [--sizes 50,100,200] [--entries 1000] [--resolves 300]

For each size N, a BadgeChain network (`DhtSettings()` as shipped) and then an unmodified
kademlia 2.2.3 network run in this one process on 127.0.0.1, never both at once. Both publish
the same BNS records (`--entries` at the largest N, as many as are resolved at the others),
resolve a sample of them one by one from random nodes with every node up, then again right
after 30% of the nodes stop (nothing waits for the stop to be noticed), and BadgeChain once
more after `--settle` seconds of its background liveness checks. kademlia's askers do not hold
the entry where any node lacks it, since its `get` answers from its own storage; its small
after-stop sample runs in concurrent groups, because each dead contact costs it 5 s.
RPCs are the requests the asking node sends during one resolve, set against log2(N). Only
ratios measured in one run compare: these machines are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kademlia.network import Server
from kademlia.protocol import KademliaProtocol
from kademlia.utils import digest

from badgechain.bns.dht import DhtNode, DhtSettings
from badgechain.bns.record import Entry, Record, derive_dht_key
from badgechain.bns.values import address_of_key
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from tests.bns.network import Network, make_badge_entry

STOP_FRACTION = 0.3
PUBLISH_CONCURRENCY = 10  # one event loop runs every node: keep the bursts bounded
# The shipped defaults (2 s RPC timeout, 1 s liveness rounds) but an 8-bit id puzzle: at the
# shipped 20 bits, 200 nodes would spend about 100 s solving theirs before the first resolve.
SETTINGS = replace(DhtSettings(), id_difficulty=8)
ALL_UP, AFTER_STOP, SETTLED = "all up", "right after 30% stop", "30% stopped, after settling"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Phase:
    """One batch of resolves: latency, and requests sent by the asking node, per resolve."""

    latencies: list[float] = field(default_factory=list)
    rpcs: list[int] = field(default_factory=list)
    failures: int = 0
    hedge_delays: list[float] = field(default_factory=list)  # BadgeChain askers' only
    dead_contacts: float = math.nan  # share of stopped nodes in live nodes' tables at start

    def record(self, seconds: float, rpcs: int, resolved: bool) -> None:
        self.latencies.append(seconds)
        self.rpcs.append(rpcs)
        self.failures += not resolved

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def success_rate(self) -> float:
        return (self.count - self.failures) / self.count if self.count else math.nan

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)

    @property
    def mean_rpcs(self) -> float:
        return sum(self.rpcs) / len(self.rpcs) if self.rpcs else math.nan


@dataclass
class Publishing:
    entries: int
    seconds: float
    failed: int  # publishes that raised (BadgeChain) or returned False (kademlia)
    fewest_replicas: int | None = None  # BadgeChain: fewest replicas that accepted an entry
    fewest_held: int | None = None  # BadgeChain: fewest live nodes holding an entry, after it
    fewest_held_after_round: int | None = None  # ...and after one republish round

    @property
    def rate(self) -> float:
        return self.entries / self.seconds


@dataclass
class SizeReport:
    size: int
    publishing: dict[str, Publishing] = field(default_factory=dict)  # by system
    badgechain: dict[str, Phase] = field(default_factory=dict)
    kademlia: dict[str, Phase] = field(default_factory=dict)

    @property
    def log2_size(self) -> float:
        return math.log2(self.size)


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...]
    entries: int
    resolves: int
    baseline_after_stop: int  # kademlia gets after the stop
    baseline_group: int  # of which this many run at once
    settle: float  # seconds of BadgeChain liveness checks before the last phase
    seed: int
    baseline: bool = True  # also run kademlia
    republish: bool = False  # one republish round after publishing, and count replicas
    processes: int = 0  # > 0: one N split over this many processes (benchmarks/dht_multi.py)
    churn: float = 30.0  # seconds of joins and departures in the multi-process run


@dataclass(frozen=True)
class Item:
    """One entry to publish: where it lives and its wire bytes."""

    address: bytes
    entry: Entry
    wire: bytes


def make_items(count: int, rng: random.Random) -> list[Item]:
    issuer = KeyPair.from_seed(rng.randbytes(32))
    earner = KeyPair.from_seed(rng.randbytes(32))
    entries = [make_badge_entry(issuer, earner) for _ in range(count)]
    return [
        Item(address_of_key(derive_dht_key(e.uid)), e, Record(e).to_wire_bytes()) for e in entries
    ]


class Stopwatch:
    """Wall time per stage, printed as progress: where a run's minutes go."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.laps: list[str] = []
        self.started = time.perf_counter()

    def lap(self, stage: str) -> float:
        now = time.perf_counter()
        seconds, self.started = now - self.started, now
        self.laps.append(f"{stage} {seconds:.1f} s")
        return seconds

    def show(self) -> None:
        print(f"{self.name}: {', '.join(self.laps)}", flush=True)


def stop_sample(size: int, rng: random.Random) -> list[int]:
    return rng.sample(range(size), round(size * STOP_FRACTION))


# --- BadgeChain ---------------------------------------------------------------------------


async def publish_all(net: Network, items: list[Item], rng: random.Random) -> list[int | None]:
    """Publish every item from a random node: replicas that accepted each, None if it failed."""
    limit = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def one(item: Item, writer: DhtNode) -> int | None:
        async with limit:
            try:
                return (await writer.publish(item.wire)).accepted
            except BadgeChainError:  # the writer found no replica that answered in time
                return None

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(item, rng.choice(net.nodes))) for item in items]
    return [task.result() for task in tasks]


def fewest_held(net: Network, items: list[Item]) -> int | None:
    """The fewest live nodes holding any one of `items`: the worst-placed record."""
    live = net.live
    return min((sum(n.held(i.address) is not None for n in live) for i in items), default=None)


async def republish_round(net: Network) -> None:
    """Every live node's background republish round, all at once as in a real network."""
    await asyncio.gather(*(node.republish_once(skip_replicated=True) for node in net.live))


def dead_share(net: Network) -> float:
    """The share of stopped nodes among the contacts live nodes still hold."""
    live = net.live
    addresses = {node.address for node in live}
    contacts = [c.address for node in live for c in node.contacts()]
    return sum(a not in addresses for a in contacts) / len(contacts) if contacts else math.nan


async def resolve_badgechain(net: Network, items: list[Item], rng: random.Random) -> Phase:
    """Resolve each item once, one after another, each from a random live node."""
    phase, live = Phase(dead_contacts=dead_share(net)), net.live
    for item in items:
        asker = rng.choice(live)
        phase.hedge_delays.append(asker.protocol.hedge_delay)
        sent = asker.stats["rpcs_sent"]
        started = time.perf_counter()
        try:
            value = (await asker.fetch(item.address)).value
        except BadgeChainError:
            value = None
        seconds = time.perf_counter() - started
        await asyncio.sleep(0)  # let the repairs the fetch spawned send, so they are counted
        resolved = value is not None and Record.from_wire_bytes(value).entry == item.entry
        phase.record(seconds, asker.stats["rpcs_sent"] - sent, resolved)
    return phase


async def bench_badgechain(
    size: int, items: list[Item], options: Options, rng: random.Random
) -> tuple[Publishing, dict[str, Phase], list[Item]]:
    """Returns the publishing figures, the phases, and the resolve sample it used."""
    watch, net = Stopwatch(f"N={size} BadgeChain"), Network(settings=SETTINGS)
    try:
        await net.start(size)
        watch.lap("joined")
        accepted = await publish_all(net, items, rng)
        seconds = watch.lap(f"published {len(items)}")
        stored = [n for n in accepted if n is not None]
        failed = len(items) - len(stored)
        publishing = Publishing(len(items), seconds, failed, min(stored, default=None))
        publishing.fewest_held = fewest_held(net, items)
        if options.republish:
            await republish_round(net)
            publishing.fewest_held_after_round = fewest_held(net, items)
            watch.lap("one republish round")
        published = [item for item, n in zip(items, accepted, strict=True) if n is not None]
        sample = rng.sample(published, min(options.resolves, len(published)))
        phases = {ALL_UP: await resolve_badgechain(net, sample, rng)}
        for index in stop_sample(size, rng):
            await net.stop_node(index)
        phases[AFTER_STOP] = await resolve_badgechain(net, sample, rng)
        watch.lap(f"resolved {len(sample)} twice")
        await asyncio.sleep(options.settle)
        phases[SETTLED] = await resolve_badgechain(net, sample, rng)
        watch.lap(f"settled, resolved {len(sample)}")
        return publishing, phases, sample
    finally:
        await net.stop()
        watch.show()


# --- kademlia 2.2.3, unmodified: the baseline ----------------------------------------------


class _CountingTransport:
    """Passes datagrams through, counting the requests (rpcudp marks them with a 0 byte)."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.requests_sent = 0

    def sendto(self, data: bytes, addr: Any) -> None:
        if data[:1] == b"\x00":
            self.requests_sent += 1
        self.transport.sendto(data, addr)


class _CountingProtocol(KademliaProtocol):  # type: ignore[misc]  # kademlia is untyped
    """kademlia's protocol as shipped; only its transport is wrapped to count requests."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(_CountingTransport(transport))


class _CountingServer(Server):  # type: ignore[misc]  # kademlia is untyped
    protocol_class = _CountingProtocol


def requests_sent(server: Any) -> int:
    return int(server.protocol.transport.requests_sent)


def is_up(server: Any) -> bool:
    return not server.transport.is_closing()


def stop_server(server: Any) -> None:
    """Server.stop only closes the socket: also fail its pending requests, so nothing waits."""
    server.stop()
    outstanding = server.protocol._outstanding
    for future, timer in outstanding.values():
        timer.cancel()
        if not future.done():
            future.set_result((False, None))
    outstanding.clear()


async def start_kademlia(size: int, rng: random.Random) -> list[Any]:
    servers = [_CountingServer(node_id=rng.randbytes(20)) for _ in range(size)]
    for server in servers:
        await server.listen(0, "127.0.0.1")
    first = servers[0].transport.get_extra_info("sockname")[:2]
    # The same joining order as tests.bns.network.Network.start.
    for start in range(1, size, 10):
        await asyncio.gather(*(s.bootstrap([first]) for s in servers[start : start + 10]))
    await asyncio.gather(*(s.bootstrap([first]) for s in servers[1:]))
    return servers


async def set_all(servers: list[Any], items: list[Item], rng: random.Random) -> int:
    """`set` every item from a random server; return how many sets reported failure."""
    limit = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def one(item: Item, writer: Any) -> bool:
        async with limit:
            return bool(await writer.set(item.address, item.wire))

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(item, rng.choice(servers))) for item in items]
    return sum(not task.result() for task in tasks)


def pick_asker(servers: list[Any], item: Item, rng: random.Random, busy: set[int]) -> Any:
    """A live server that does not hold `item`, when there is one (kademlia's get answers
    from its own storage without a lookup), and preferably not already asking."""
    dkey = digest(item.address)
    live = [s for s in servers if is_up(s)]
    candidates = [s for s in live if s.storage.get(dkey) is None] or live
    idle = [s for s in candidates if id(s) not in busy]
    return rng.choice(idle or candidates)


async def get_one(server: Any, item: Item, phase: Phase) -> None:
    sent = requests_sent(server)
    started = time.perf_counter()
    value = await server.get(item.address)
    phase.record(time.perf_counter() - started, requests_sent(server) - sent, value == item.wire)


async def resolve_kademlia(
    servers: list[Any], items: list[Item], rng: random.Random, group: int
) -> Phase:
    """Resolve the items in groups of `group` at once, each from a distinct asking server."""
    phase = Phase()
    for start in range(0, len(items), group):
        busy: set[int] = set()
        gets = []
        for item in items[start : start + group]:
            asker = pick_asker(servers, item, rng, busy)
            busy.add(id(asker))
            gets.append(get_one(asker, item, phase))
        await asyncio.gather(*gets)
    return phase


async def bench_kademlia(
    size: int, items: list[Item], sample: list[Item], options: Options, rng: random.Random
) -> tuple[Publishing, dict[str, Phase]]:
    watch, servers = Stopwatch(f"N={size} kademlia"), []
    try:
        servers = await start_kademlia(size, rng)
        watch.lap("joined")
        failed = await set_all(servers, items, rng)
        publishing = Publishing(len(items), watch.lap(f"set {len(items)}"), failed)
        phases = {ALL_UP: await resolve_kademlia(servers, sample, rng, group=1)}
        watch.lap(f"got {len(sample)}")
        for index in stop_sample(size, rng):
            stop_server(servers[index])
        after = sample[: options.baseline_after_stop]
        phases[AFTER_STOP] = await resolve_kademlia(servers, after, rng, options.baseline_group)
        watch.lap(f"after the stop, got {len(after)} ({options.baseline_group} at once)")
        return publishing, phases
    finally:
        for server in servers:
            stop_server(server)
        await _cancel_leftovers()
        watch.show()


async def _cancel_leftovers() -> None:
    """kademlia's own tasks (hand-overs, request handlers) outlive Server.stop: end them."""
    await asyncio.sleep(0)
    current = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


# --- the run ---------------------------------------------------------------------------------


async def bench_size(size: int, options: Options) -> SizeReport:
    rng = random.Random(options.seed * 1000 + size)
    # Publishing costs grow with the records each node holds: only the largest network
    # publishes all the entries, the others what they resolve, to keep the run short.
    count = options.entries if size == max(options.sizes) else options.resolves
    items = make_items(count, rng)
    report = SizeReport(size)
    publishing, report.badgechain, sample = await bench_badgechain(size, items, options, rng)
    report.publishing["BadgeChain"] = publishing
    if options.baseline:
        publishing, report.kademlia = await bench_kademlia(size, items, sample, options, rng)
        report.publishing["kademlia"] = publishing
    return report


async def run(options: Options) -> list[SizeReport]:
    return [await bench_size(size, options) for size in options.sizes]


@contextlib.contextmanager
def quiet(*names: str) -> Iterator[None]:
    """kademlia logs every timeout at ERROR; after a stop there are thousands."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def _row(label: str, phase: Phase, log2_size: float) -> str:
    return (
        f"| {label} | {phase.count} | {phase.success_rate:.0%} | {_ms(phase.p50)} | "
        f"{_ms(phase.p95)} | {phase.mean_rpcs:.1f} | {phase.mean_rpcs / log2_size:.2f} |"
    )


def print_size(report: SizeReport) -> None:
    log2_size = report.log2_size
    print(f"\n### N = {report.size} (log2 N = {log2_size:.2f})\n")
    print("| system, phase | resolves | resolved | p50 ms | p95 ms | RPCs/resolve | RPCs/log2 N |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for system, phases in (("BadgeChain", report.badgechain), ("kademlia", report.kademlia)):
        for label, phase in phases.items():
            print(_row(f"{system}, {label}", phase, log2_size))
    print()
    for label in (ALL_UP, AFTER_STOP) if report.kademlia else ():
        ours, theirs = report.badgechain[label].p95, report.kademlia[label].p95
        print(f"p95 BadgeChain / kademlia, {label}: {ours / theirs:.3f}")
    for label, phase in report.badgechain.items():
        delays = phase.hedge_delays
        print(
            f"BadgeChain, {label}: askers' hedge delay p50 {_ms(percentile(delays, 0.5))} ms, "
            f"p95 {_ms(percentile(delays, 0.95))} ms; stopped nodes among live nodes' "
            f"contacts {phase.dead_contacts:.0%}"
        )


def print_publishing(reports: list[SizeReport]) -> None:
    print(
        "\n| N | entries | BadgeChain publish/s | kademlia set/s | ratio "
        "| failed (BadgeChain, kademlia) | fewest replicas (BadgeChain) "
        "| fewest holders | after one republish round |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in reports:
        ours, theirs = r.publishing["BadgeChain"], r.publishing.get("kademlia")
        their_rate = f"{theirs.rate:,.1f}" if theirs else "-"
        ratio = f"{ours.rate / theirs.rate:.2f}" if theirs else "-"
        print(
            f"| {r.size} | {ours.entries:,} | {ours.rate:,.1f} | {their_rate} | {ratio} | "
            f"{ours.failed}, {theirs.failed if theirs else '-'} | {ours.fewest_replicas} | "
            f"{ours.fewest_held} | {ours.fewest_held_after_round} |"
        )


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="50,100,200", help="comma-separated node counts")
    parser.add_argument("--entries", type=int, default=1000, help="published at the largest N")
    parser.add_argument(
        "--resolves",
        type=int,
        default=300,
        help="resolves per phase (and entries published at the other sizes)",
    )
    parser.add_argument("--baseline-after-stop", type=int, default=50)
    parser.add_argument("--baseline-group", type=int, default=25)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before last phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-baseline", action="store_true", help="skip kademlia")
    parser.add_argument(
        "--republish", action="store_true", help="count replicas after one republish round"
    )
    parser.add_argument("--processes", type=int, default=0, help="N split over processes")
    parser.add_argument("--churn", type=float, default=30.0, help="multi-process churn seconds")
    args = parser.parse_args(argv)
    return Options(
        tuple(int(size) for size in args.sizes.split(",")),
        args.entries,
        args.resolves,
        args.baseline_after_stop,
        args.baseline_group,
        args.settle,
        args.seed,
        not args.no_baseline,
        args.republish,
        args.processes,
        args.churn,
    )


def main(argv: Sequence[str] | None = None) -> list[SizeReport]:
    options = parse_options(argv)
    if options.processes:
        from benchmarks.dht_multi import print_multi, run_multi  # it imports this module

        print_multi(asyncio.run(run_multi(options)))
        return []
    print(f"sizes {options.sizes}, {options.entries} entries, seed {options.seed} …", flush=True)
    started = time.perf_counter()
    with quiet("kademlia", "rpcudp"):
        reports = asyncio.run(run(options))
    for report in reports:
        print_size(report)
    print_publishing(reports)
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")
    return reports


if __name__ == "__main__":
    main()
