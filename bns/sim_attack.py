"""Honest reads against hostile nodes, simulated: does a revocation still reach readers?

One network per hostile fraction: `nodes` real `DhtNode`s join, then a random `fraction` of
them turn hostile (bns/sim_adversary.py) with each behaviour in turn. For each behaviour and
each of 1 and 2 paths, honest writers publish fresh records, then revoke them (the issuer
writes the revoked record over the first), and random honest readers (never the writer)
fetch them. A read is right when it returns the revoked record: the freshest answer, which a
stale liar hides and a forger tries to replace. Writes take `write_paths` = paths; reads
take as many disjoint lookups (`fetch_disjoint`).

Hostile ids are random (key-derived ids: an attacker cannot choose where its nodes land
without grinding, see docs/threat-model.md), each on its own IP (bucket and lookup host limits
do not bind), and they collude: each knows every other.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import time
from dataclasses import dataclass, field, replace
from typing import Final

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import KeyPair
from badgechain.storage import Kind, MemoryStore

from .dht import DhtNode, DhtSettings
from .puzzle import NONCE_BYTES, node_id_of
from .record import Record, Uid, make_entry, make_revocation
from .saved import ID_NONCE_KEY
from .sim import LinkModel, SimNetwork, run_simulated, start_simulated
from .sim_adversary import Behaviour, Gang, fetch_disjoint, turn
from .sim_values import SharedVerdicts
from .values import BnsValues

__all__ = ["AttackOptions", "Outcome", "run_attack"]

_JOIN_GROUP: Final = 50
_READ_BATCH: Final = 25  # reads in flight at once


@dataclass(frozen=True)
class AttackOptions:
    nodes: int = 500
    fraction: float = 0.2
    behaviours: tuple[Behaviour, ...] = tuple(Behaviour)
    paths: tuple[int, ...] = (1, 2)
    records: int = 40
    reads: int = 200
    placed: int = 0  # more hostile nodes per record, their ids ground nearest its address
    loss: float = 0.0
    seed: int = 1
    settings: DhtSettings = field(
        default_factory=lambda: DhtSettings(
            id_difficulty=0, liveness_interval=60.0, liveness_batch=2, write_retry_interval=120.0
        )
    )


@dataclass
class Outcome:
    behaviour: Behaviour
    paths: int
    fraction: float
    reads: int = 0
    right: int = 0  # the revoked record
    stale: int = 0  # the record without its revocation
    missing: int = 0  # nothing, or nobody answered
    forgeries_dropped: int = 0  # hostile answers refused by validation
    writes_done: int = 0  # publishes and revocations that reached `write_quorum` hosts

    @property
    def right_share(self) -> float:
        return self.right / max(1, self.reads)


class _Attack:
    def __init__(self, options: AttackOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)  # noqa: S311  # a simulation, not a secret
        self.network = SimNetwork(options.seed, LinkModel(loss=options.loss))
        self.policy = SharedVerdicts(BnsValues())
        self.issuer = KeyPair.from_seed(self.rng.randbytes(32))
        self.nodes: list[DhtNode] = []
        self.hostile: list[DhtNode] = []
        self.honest: list[DhtNode] = []

    def start_node(self, near: bytes | None = None) -> DhtNode:
        """A node on its own host; with `near`, its id ground to sit nearest that address."""
        key = KeyPair.from_seed(self.rng.randbytes(32))
        store = MemoryStore()
        if near is not None:
            bits = math.ceil(math.log2(self.options.nodes)) + 4  # nearer than any honest id
            store.put(Kind.JOURNAL, ID_NONCE_KEY, key.public_key + grind(key, near, bits))
        node = DhtNode(key.public_key, store, self.policy, self.options.settings)
        index = len(self.nodes)
        start_simulated(
            node, self.network, f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"
        )
        self.nodes.append(node)
        return node

    async def build(self) -> None:
        o = self.options
        for _ in range(o.nodes):
            self.start_node()
        for start in range(1, o.nodes, _JOIN_GROUP):  # each through a random earlier node
            group = self.nodes[start : start + _JOIN_GROUP]
            seeds = [self.rng.choice(self.nodes[:start]).address for _ in group]
            await asyncio.gather(*(n.bootstrap([s]) for n, s in zip(group, seeds, strict=True)))
        count = round(o.fraction * o.nodes)
        self.hostile = self.rng.sample(self.nodes, count)
        chosen = set(map(id, self.hostile))
        self.honest = [n for n in self.nodes if id(n) not in chosen]

    def record(self) -> tuple[bytes, bytes]:
        """A fresh record and the same record revoked."""
        signing_input = self.rng.randbytes(64)
        uid = Uid(self.issuer.sign(signing_input))
        entry = make_entry(self.issuer, uid, signing_input, None, 1)
        revocation = make_revocation(self.issuer, uid, "withdrawn", 2)
        return Record(entry).to_wire_bytes(), Record(entry, None, revocation).to_wire_bytes()

    async def phase(self, behaviour: Behaviour, paths: int) -> Outcome:
        o = self.options
        gang = Gang(KeyPair.from_seed(self.rng.randbytes(32)))
        writes = [(self.rng.choice(self.honest), *self.record()) for _ in range(o.records)]
        placed = [
            self.start_node(self.policy.address_of(first))
            for _, first, _ in writes
            for _ in range(o.placed)
        ]
        await asyncio.gather(*(n.bootstrap([self.rng.choice(self.honest).address]) for n in placed))
        for node in self.hostile + placed:
            turn(node, behaviour, gang)
        outcome = Outcome(behaviour, paths, o.fraction)

        async def write(writer: DhtNode, value: bytes) -> None:
            writer.settings = replace(writer.settings, write_paths=paths)
            try:
                done = (await writer.publish(value)).done
            except BadgeChainError:
                return
            outcome.writes_done += done  # counted after the await: writes run concurrently

        await asyncio.gather(*(write(w, first) for w, first, _ in writes))
        await asyncio.gather(*(write(w, revoked) for w, _, revoked in writes))
        dropped_before = sum(n.stats["answers_dropped"] for n in self.honest)
        reads = []
        for _ in range(o.reads):
            writer, _, revoked = self.rng.choice(writes)
            reader = self.rng.choice(self.honest)
            while reader is writer:
                reader = self.rng.choice(self.honest)
            reads.append((reader, self.policy.address_of(revoked), revoked))

        async def read(reader: DhtNode, address: bytes, revoked: bytes) -> None:
            outcome.reads += 1
            try:
                value = (await fetch_disjoint(reader, address, paths)).value
            except BadgeChainError:
                value = None
            if value is None:
                outcome.missing += 1
            elif value == revoked:
                outcome.right += 1
            else:
                outcome.stale += 1

        for start in range(0, len(reads), _READ_BATCH):
            await asyncio.gather(*(read(*r) for r in reads[start : start + _READ_BATCH]))
        outcome.forgeries_dropped = (
            sum(n.stats["answers_dropped"] for n in self.honest) - dropped_before
        )
        for node in placed:  # the next phase has its own
            await node.stop()
        return outcome

    async def run(self) -> list[Outcome]:
        await self.build()
        outcomes = [
            await self.phase(behaviour, paths)
            for behaviour in self.options.behaviours
            for paths in self.options.paths
        ]
        for node in self.nodes:
            await node.stop()
        return outcomes


def grind(key: KeyPair, address: bytes, bits: int) -> bytes:
    """A nonce that puts `key`'s id within `bits` shared leading bits of `address`.

    About 2**bits hashes: what an attacker pays (times the id puzzle's 2**difficulty).
    """
    target = int.from_bytes(address, "big")
    for counter in itertools.count():
        nonce = counter.to_bytes(NONCE_BYTES, "big")
        number = int.from_bytes(node_id_of(key.public_key, nonce), "big")
        if (number ^ target).bit_length() <= 8 * len(address) - bits:
            return nonce
    raise AssertionError("unreachable")


def run_attack(options: AttackOptions) -> list[Outcome]:
    """Every (behaviour, paths) of `options` on one network; deterministic for one seed."""
    return run_simulated(lambda: _Attack(options).run(), options.seed)


def main(argv: list[str] | None = None) -> None:
    """Print the table of docs/threat-model.md: right reads per hostile share and behaviour."""
    parser = argparse.ArgumentParser(description="honest reads against hostile nodes")
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--fractions", default="0.1,0.2,0.3")
    parser.add_argument("--placed", default="5,10", help="hostile ids ground nearest each UID")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    runs = [(float(f), 0) for f in args.fractions.split(",") if f]
    runs += [(0.0, int(p)) for p in args.placed.split(",") if p]
    print("| hostile | behaviour | right, 1 path | right, 2 disjoint paths | forgeries dropped |")
    print("| --- | --- | ---: | ---: | ---: |")
    for fraction, placed in runs:
        started = time.monotonic()
        options = AttackOptions(
            nodes=args.nodes,
            fraction=fraction,
            records=args.records,
            reads=args.reads,
            placed=placed,
            seed=args.seed,
        )
        outcomes = run_attack(options)
        who = f"{fraction:.0%} at random" if not placed else f"{placed} ground nearest each UID"
        for behaviour in options.behaviours:
            one, two = (o for o in outcomes if o.behaviour is behaviour)
            print(
                f"| {who} | {behaviour.value} | {_cell(one)} | {_cell(two)} "
                f"| {one.forgeries_dropped} / {two.forgeries_dropped} |",
                flush=True,
            )
        print(f"<!-- {who}: {time.monotonic() - started:.0f} s wall -->", flush=True)


def _cell(outcome: Outcome) -> str:
    wrong = f"{outcome.stale} stale, {outcome.missing} none"
    return f"{100 * outcome.right_share:.1f}% ({outcome.right}/{outcome.reads}; {wrong})"


if __name__ == "__main__":
    main()
