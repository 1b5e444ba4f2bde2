"""Event-loop lag while a node holding many values hands a newcomer its share, and republishes.

    .venv/bin/python -m benchmarks.dht_handover [--values 1000000] [--baseline-values 100000]

A holder (LevelDB, as a node runs) holds `--values` values at random addresses and knows 200
contacts; a newcomer on 127.0.0.1 becomes its contact. Every replica may hand over here
(`hand_over_senders` unbounded: the worst case, and the baseline's rule). A task wakes every
5 ms and records how late it woke: the loop's lag. Measured in one run: the first
`--seconds` of the streamed hand-over of bns/dht.py (pages of 256 values, the loop let go
after 5 ms of work, at most 8 STOREs awaiting an answer); up to `--seconds` of a republish
round over the same store (the values fail validation, so this is the round's scan and
per-value work without its lookups); the hand-over as it was before issue 12 (one
synchronous scan spawning a request per value, re-created here) on `--baseline-values`.
The newcomer refuses the values (they are not valid records): what is measured is the
holder's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from badgechain.bns.dht import Contact, DhtNode, DhtSettings
from badgechain.bns.values import BnsValues
from badgechain.chain.keys import KeyPair
from badgechain.storage import Kind, LevelStore, MemoryStore

SETTINGS = replace(DhtSettings(), id_difficulty=0, hand_over_senders=1_000_000)
TICK = 0.005
FAKE_CONTACTS = 200


@dataclass
class Lag:
    ticks: list[float]

    @property
    def worst_ms(self) -> float:
        return 1000 * max(self.ticks, default=0.0)

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.ticks)
        return 1000 * ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0.0


async def watch(ticks: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + TICK
        await asyncio.sleep(TICK)
        ticks.append(max(0.0, loop.time() - due))


def fill(store: LevelStore, count: int, rng: random.Random) -> None:
    value = bytes(300)
    for start in range(0, count, 10_000):
        with store.batch() as batch:
            for _ in range(min(10_000, count - start)):
                batch.put(Kind.BNS_RECORD, rng.randbytes(20), value)


async def holder_and_newcomer(store: LevelStore, rng: random.Random) -> tuple[DhtNode, DhtNode]:
    holder = DhtNode(KeyPair.generate().public_key, store, BnsValues(), SETTINGS)
    await holder.listen(0)
    for port in range(20_000, 20_000 + FAKE_CONTACTS):  # never asked: only ranked against
        holder.router.add(Contact(rng.randbytes(32), "127.0.0.2", port), 0.0)
    newcomer = DhtNode(KeyPair.generate().public_key, MemoryStore(), BnsValues(), SETTINGS)
    await newcomer.listen(0)
    return holder, newcomer


async def measure(work: asyncio.Future[int] | None, seconds: float | None) -> tuple[Lag, float]:
    ticks: list[float] = []
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(watch(ticks, stop))
    started = time.monotonic()
    if work is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(work), seconds)
    else:
        await asyncio.sleep(seconds or 0)
    elapsed = time.monotonic() - started
    stop.set()
    await watcher
    return Lag(ticks), elapsed


async def hand_over(node: DhtNode, newcomer: Contact) -> int:
    await node.rounds.hand_over(newcomer)
    return 0


def synchronous_hand_over(node: DhtNode, newcomer: Contact) -> int:
    """The hand-over before issue 12: one scan of everything, a request spawned per value."""
    k, sent = node.settings.ksize, 0
    for address, value in node.store.scan(Kind.BNS_RECORD):
        target = int.from_bytes(address, "big")
        neighbours = node.router.neighbours(address, k=k)
        if len(neighbours) < k or newcomer.number ^ target < neighbours[-1].number ^ target:
            node.spawn(node.protocol.request(newcomer, "store", address, value))
            sent += 1
    return sent


async def streamed(count: int, seconds: float, directory: Path, rng: random.Random) -> None:
    store = LevelStore(str(directory / "streamed"))
    fill(store, count, rng)
    holder, newcomer = await holder_and_newcomer(store, rng)
    before = holder.stats["rpcs_sent"]
    task = asyncio.ensure_future(hand_over(holder, newcomer.me))
    lag, elapsed = await measure(task, seconds)
    sent = holder.stats["rpcs_sent"] - before
    state = "done" if task.done() else "still streaming"
    task.cancel()
    print(
        f"streamed hand-over, {count:,} held: {sent:,} STOREs in {elapsed:.1f} s ({state}); lag "
        f"worst {lag.worst_ms:.1f} ms, p99 {lag.p99_ms:.1f} ms ({len(lag.ticks):,} ticks)"
    )
    republish = asyncio.ensure_future(holder.republish_once())
    lag, elapsed = await measure(republish, seconds)
    republish.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await republish
    print(
        f"republish round, {count:,} held, first {elapsed:.0f} s: loop lag worst "
        f"{lag.worst_ms:.1f} ms, p99 {lag.p99_ms:.1f} ms"
    )
    await holder.stop()
    await newcomer.stop()
    store.close()


async def baseline(count: int, directory: Path, rng: random.Random) -> None:
    store = LevelStore(str(directory / "baseline"))
    fill(store, count, rng)
    holder, newcomer = await holder_and_newcomer(store, rng)
    ticks: list[float] = []
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(watch(ticks, stop))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    sent = synchronous_hand_over(holder, newcomer.me)
    blocked = time.monotonic() - started
    await asyncio.sleep(0.05)
    stop.set()
    await watcher
    lag = Lag(ticks)
    print(
        f"baseline (synchronous) hand-over, {count:,} held: {sent:,} requests queued at once; "
        f"loop blocked {blocked:.1f} s; worst lag {lag.worst_ms:.0f} ms"
    )
    await holder.stop()
    await newcomer.stop()
    store.close()


async def run(values: int, baseline_values: int, seconds: float) -> None:
    rng = random.Random(1)  # a benchmark, not a secret
    with tempfile.TemporaryDirectory() as directory:
        await streamed(values, seconds, Path(directory), rng)
        if baseline_values:
            await baseline(baseline_values, Path(directory), rng)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--baseline-values", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    options = parser.parse_args(argv)
    asyncio.run(run(options.values, options.baseline_values, options.seconds))


if __name__ == "__main__":
    main()
