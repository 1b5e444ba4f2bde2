"""The BNS DHT at scale, simulated: N nodes, R records, half the nodes replaced as it runs.

    .venv/bin/python -m benchmarks.bns_sim [--nodes 10000] [--records 10000] [--churn 0.5]

Every node is the real `DhtNode` on `bns.sim`'s network (seeded latency 10-30 ms, optional
loss) and virtual clock, so one virtual hour takes as long as the work in it. The nodes join,
`--writers` of them publish the records (real signed BNS records, validated by every storing
node), then for `--duration` virtual seconds one node leaves and a fresh one joins at a steady
rate until `--churn` of the nodes were replaced, while random live nodes resolve random
records. Writers stay; everyone republishes every `--republish` seconds (holders skip values
a peer pushed them unchanged since their last round). Reported: the share of resolves that
found the record, their lookup rounds (p50/p95, against log2(N/k) + 3) and requests, and
the live replicas of every record at the end (minimum, against k/2).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from badgechain.bns.dht import DhtNode, DhtSettings
from badgechain.bns.record import Record, Uid, make_entry
from badgechain.bns.sim import LinkModel, SimNetwork, run_simulated, start_simulated
from badgechain.bns.sim_values import SharedVerdicts
from badgechain.bns.values import BnsValues
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from badgechain.storage import Kind, MemoryStore

# Shipped settings, except: no id puzzle (10,000 puzzles at 20 bits would take hours of
# CPU and change nothing here), and background rounds stretched to the simulated hour.
SETTINGS = replace(
    DhtSettings(),
    id_difficulty=0,
    liveness_interval=60.0,
    liveness_batch=2,
    refresh_interval=3600.0,
    write_retry_interval=120.0,
)
JOIN_GROUP = 50  # nodes joining at once while the network is built
PROGRESS_EVERY = 1000
STRAGGLERS_S = 120.0  # virtual seconds a resolve or replacement may run past the last event


def progress(what: str) -> None:
    print(f"    {what}: {time.process_time():.0f} s CPU", flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Options:
    nodes: int = 10_000
    records: int = 10_000
    churn: float = 0.5
    duration: float = 3600.0
    republish: float = 1800.0
    resolves: int = 10_000
    writers: int = 100
    loss: float = 0.0
    seed: int = 1


@dataclass
class Report:
    options: Options
    build_s: float = 0.0
    publish_s: float = 0.0
    churn_s: float = 0.0
    published_done: int = 0
    resolved: int = 0
    failed: int = 0
    rounds: list[int] = field(default_factory=list)
    asked: list[int] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    replaced: int = 0
    unfinished_resolves: int = 0  # still running STRAGGLERS_S after the last event: failed
    unfinished_replacements: int = 0
    datagrams: int = 0
    verdicts: tuple[int, int] = (0, 0)  # validations computed, replayed from memory
    virtual_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0


def make_records(rng: random.Random, count: int) -> list[bytes]:
    """`count` real signed BNS records of one issuer, from `rng`."""
    issuer = KeyPair.from_seed(rng.randbytes(32))
    values = []
    for _ in range(count):
        signing_input = rng.randbytes(64)
        uid = Uid(issuer.sign(signing_input))
        values.append(Record(make_entry(issuer, uid, signing_input, None, 1)).to_wire_bytes())
    return values


class Simulation:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.rng = random.Random(options.seed)  # a simulation, not a secret
        self.network = SimNetwork(options.seed, LinkModel(loss=options.loss))
        self.settings = replace(SETTINGS, republish_interval=options.republish)
        self.nodes: list[DhtNode] = []
        self.live: list[DhtNode] = []
        self.writers: list[DhtNode] = []
        self.report = Report(options)
        # Every node still asks for each STORE's verdict; the crypto runs once per input.
        self.policy = SharedVerdicts(BnsValues())
        self.values = make_records(self.rng, options.records)  # signed before the clock runs
        self.addresses = [self.policy.address_of(v) for v in self.values]

    def _host(self, index: int) -> str:
        return f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"

    async def add_node(self) -> DhtNode:
        key = KeyPair.from_seed(self.rng.randbytes(32))
        node = DhtNode(key.public_key, MemoryStore(), self.policy, self.settings)
        start_simulated(node, self.network, self._host(len(self.nodes) + 1))
        self.nodes.append(node)
        return node

    async def join(self, node: DhtNode) -> None:
        seeds = [self.rng.choice(self.live).address] if self.live else []
        self.live.append(node)
        if seeds:
            await node.bootstrap(seeds)

    async def build(self) -> None:
        first = await self.add_node()
        await self.join(first)
        while len(self.nodes) < self.options.nodes:
            count = min(JOIN_GROUP, self.options.nodes - len(self.nodes))
            group = [await self.add_node() for _ in range(count)]
            await asyncio.gather(*(self.join(n) for n in group))
            if len(self.nodes) // PROGRESS_EVERY > (len(self.nodes) - count) // PROGRESS_EVERY:
                progress(f"{len(self.nodes)} joined")  # groups of 50 after the first: 1001...

    async def publish(self) -> None:
        self.writers = self.rng.sample(self.live, self.options.writers)
        gate = asyncio.Semaphore(self.options.writers)

        async def one(index: int) -> None:
            writer = self.writers[index % len(self.writers)]
            async with gate:
                try:
                    result = await writer.publish(self.values[index])
                    self.report.published_done += result.done
                except BadgeChainError:
                    pass
            if (index + 1) % PROGRESS_EVERY == 0:
                progress(f"{index + 1} published (in order of start)")

        await asyncio.gather(*(one(i) for i in range(self.options.records)))

    async def churn_and_resolve(self) -> None:
        options = self.options
        leaving = int(options.nodes * options.churn)
        loop = asyncio.get_running_loop()
        end = loop.time() + options.duration
        tasks: list[asyncio.Task[None]] = []

        stayers = set(map(id, self.writers))

        async def replace_one() -> None:
            while True:  # writers stay: draw again (they are a small share)
                index = self.rng.randrange(len(self.live))
                if id(self.live[index]) not in stayers:
                    break
            gone = self.live[index]
            self.live[index] = self.live[-1]  # O(1) removal: the order of `live` is no matter
            self.live.pop()
            await gone.stop()
            await self.join(await self.add_node())
            self.report.replaced += 1

        async def resolve_one() -> None:
            asker = self.rng.choice(self.live)
            address = self.rng.choice(self.addresses)
            try:
                result = await asker.fetch(address)
            except BadgeChainError:
                self.report.failed += 1
                return
            if result.value is None:
                self.report.failed += 1
            else:
                self.report.resolved += 1
            self.report.rounds.append(result.rounds)
            self.report.asked.append(result.asked)

        events = [(i * options.duration / max(1, leaving), replace_one) for i in range(leaving)]
        events += [
            (i * options.duration / max(1, options.resolves), resolve_one)
            for i in range(options.resolves)
        ]
        events.sort(key=lambda e: e[0])
        start = loop.time()
        for index, (at, work) in enumerate(events, start=1):
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(work()))
            if index % PROGRESS_EVERY == 0:
                report = self.report
                progress(
                    f"virtual {at:.0f} s of {options.duration:.0f}: {report.replaced} replaced, "
                    f"{report.resolved} resolved, {report.failed} failed"
                )
        # A straggler must not keep the run going for ever (a 10,000-node run's churn phase
        # went on for 30 min of CPU past its end): what is not done by then is reported.
        _, pending = await asyncio.wait(tasks, timeout=STRAGGLERS_S) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        unfinished = Counter(getattr(task.get_coro(), "__name__", "?") for task in pending)
        self.report.unfinished_resolves = unfinished["resolve_one"]
        self.report.unfinished_replacements = unfinished["replace_one"]
        if pending:
            progress(f"unfinished {STRAGGLERS_S:.0f} virtual s after the last event: {unfinished}")
            await asyncio.gather(*pending, return_exceptions=True)
        if loop.time() < end:
            await asyncio.sleep(end - loop.time())

    def count_replicas(self) -> None:
        held: Counter[bytes] = Counter()
        for node in self.live:
            for address, _ in node.store.scan(Kind.BNS_RECORD):
                held[address] += 1
        self.report.replicas = [held[a] for a in self.addresses]

    async def run(self) -> Report:
        wall = time.monotonic()
        loop = asyncio.get_running_loop()
        for phase, attribute in (
            (self.build, "build_s"),
            (self.publish, "publish_s"),
            (self.churn_and_resolve, "churn_s"),
        ):
            started, cpu = time.monotonic(), time.process_time()
            await phase()
            setattr(self.report, attribute, time.monotonic() - started)
            self.report.cpu_s += (spent := time.process_time() - cpu)
            # CPU next to wall: on a shared machine the wall time says more about the others.
            print(
                f"  {phase.__name__}: {getattr(self.report, attribute):.0f} s wall, "
                f"{spent:.0f} s CPU, {len(self.live)} live, virtual {loop.time():.0f} s",
                flush=True,
            )
        self.count_replicas()
        self.report.virtual_s = loop.time()
        self.report.datagrams = self.network.stats["sent"]
        self.report.verdicts = (self.policy.checks, self.policy.replays)
        for node in self.live:
            await node.stop()
        self.report.wall_s = time.monotonic() - wall
        return self.report


def print_report(report: Report) -> None:
    o = report.options
    total = report.resolved + report.failed + report.unfinished_resolves
    bound = math.log2(o.nodes / SETTINGS.ksize) + 3
    leaving = int(o.nodes * o.churn)
    every = o.duration / max(1, leaving)
    print(
        f"nodes {o.nodes}, records {o.records}, replaced {report.replaced} over {o.duration:.0f} s"
        f" (one leaves and one joins every {every:.3f} s: {60 / every:.0f}/min each way)"
    )
    print(f"  publishes done (write quorum): {report.published_done}/{o.records}")
    print(
        f"  resolves: {report.resolved}/{total} = {100 * report.resolved / max(1, total):.3f}%"
        f" ({report.unfinished_resolves} unfinished, counted as failed; "
        f"{report.unfinished_replacements} replacements unfinished)"
    )
    print(
        f"  lookup rounds p50 {percentile(report.rounds, 0.5)}, "
        f"p95 {percentile(report.rounds, 0.95)} (bound log2(N/k)+3 = {bound:.1f})"
    )
    print(
        f"  requests per resolve p50 {percentile(report.asked, 0.5)}, "
        f"p95 {percentile(report.asked, 0.95)}"
    )
    replicas = report.replicas
    print(
        f"  live replicas per record: min {min(replicas, default=0)}, "
        f"p5 {percentile(replicas, 0.05)}, median {percentile(replicas, 0.5)}, "
        f"under k/2: {sum(r < SETTINGS.ksize / 2 for r in replicas)}"
    )
    print(f"  validations: {report.verdicts[0]:,} computed, {report.verdicts[1]:,} replayed")
    print(
        f"  datagrams {report.datagrams:,}; virtual {report.virtual_s:.0f} s; "
        f"wall {report.wall_s:.0f} s (build {report.build_s:.0f}, publish "
        f"{report.publish_s:.0f}, churn {report.churn_s:.0f}); CPU {report.cpu_s:.0f} s"
    )


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__)
    defaults = Options()
    for name, value in vars(defaults).items():
        parser.add_argument(f"--{name}", type=type(value), default=value)
    return Options(**vars(parser.parse_args(argv)))


def main(argv: Sequence[str] | None = None) -> Report:
    options = parse_options(argv)
    report = run_simulated(lambda: Simulation(options).run(), options.seed)
    print_report(report)
    return report


if __name__ == "__main__":
    main()
