"""What one hostile UDP source can make a BNS node do: amplification and routing-table flood.

    .venv/bin/python -m benchmarks.dht_abuse [--nodes 10] [--values 50] [--flood 1000]

Real UDP on 127.0.0.1. A network of `--nodes` nodes (shipped `DhtSettings()`) stores
`--values` records, so every node holds values to hand over. A bare socket then plays the
spoofed source: it sends one `ping` and one `find_node` under never-seen keys to a storing
node and counts the datagrams and bytes that come back (the amplification factor is bytes
received over bytes sent). Then it sends `--flood` pings with fresh keys and goes silent;
the report gives the contacts the node added and how long until a resolve through that
node takes under 100 ms again. Nodes use `--id-difficulty` (default 8) instead of the
shipped 20 bits, so the flood's 1,000 keys are cheap and the table's own defence is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information

from badgechain.bns import dht
from badgechain.bns.dht import DhtNode, DhtSettings
from badgechain.bns.record import Record, derive_dht_key
from badgechain.bns.values import address_of_key
from badgechain.chain.keys import KeyPair
from badgechain.storage import Kind
from tests.bns.network import Network, make_badge_entry

QUIET_S = 1.0  # how long the spoofed source listens for what a request made the node send
FAST_S = 0.1
RECOVERY_LIMIT_S = 300.0


@dataclass
class Exchange:
    sent_datagrams: int = 0
    sent_bytes: int = 0
    got_datagrams: int = 0
    got_bytes: int = 0

    @property
    def factor(self) -> float:
        return self.got_bytes / max(1, self.sent_bytes)


def _sender(version: int, key: bytes, difficulty: int) -> Any:
    """This wire version's sender field for a fresh key (v2 carries an id puzzle solution)."""
    if version == 1:
        return key
    return [key, dht.solve_id_puzzle(key, difficulty)]


def request(method: str, args: list[Any], difficulty: int) -> bytes:
    version = getattr(dht, "WIRE_VERSION", 1)
    kind = b"\x00" if version == 1 else b"\x02"
    sender = _sender(version, os.urandom(32), difficulty)
    return kind + os.urandom(20) + bytes(msgpack.packb([method, [sender, *args]]))


async def exchange(raw: socket.socket, target: tuple[str, int], datagram: bytes) -> Exchange:
    result = Exchange(1, len(datagram))
    raw.sendto(datagram, target)
    deadline = time.monotonic() + QUIET_S
    while time.monotonic() < deadline:
        try:
            data = raw.recv(65536)
        except BlockingIOError:
            await asyncio.sleep(0.01)
            continue
        result.got_datagrams += 1
        result.got_bytes += len(data)
    return result


async def resolve_time(node: DhtNode, address: bytes) -> float:
    started = time.monotonic()
    await node.fetch(address)
    return time.monotonic() - started


async def run(options: argparse.Namespace) -> None:
    settings = DhtSettings()
    if hasattr(settings, "id_difficulty"):
        settings = replace(settings, id_difficulty=options.id_difficulty)
    difficulty = getattr(settings, "id_difficulty", 0)
    net = Network(settings=settings)
    await net.start(options.nodes)
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    raw.bind(("127.0.0.1", 0))
    raw.setblocking(False)
    try:
        issuer = KeyPair.generate()
        entries = [make_badge_entry(issuer, None) for _ in range(options.values)]
        for entry in entries:
            await net.nodes[entry.uid[0] % options.nodes].store_value(Record(entry).to_wire_bytes())
        target = net.nodes[1]
        print(f"storing node holds {sum(1 for _ in target.store.scan(Kind.BNS_RECORD))}")
        for method, args in (("ping", []), ("find_node", [os.urandom(20)])):
            got = await exchange(raw, target.address, request(method, args, difficulty))
            print(
                f"{method}: sent 1 datagram, {got.sent_bytes} B; got back {got.got_datagrams} "
                f"datagrams, {got.got_bytes} B: {got.factor:.1f}x"
            )
        before = target.contact_count()
        for _ in range(options.flood):
            raw.sendto(request("ping", [], difficulty), target.address)
        await asyncio.sleep(0.5)
        print(f"flood: {options.flood} pings, contacts {before} -> {target.contact_count()}")
        address = address_of_key(derive_dht_key(entries[0].uid))
        started = time.monotonic()
        first = await resolve_time(target, address)
        while (took := await resolve_time(target, address)) > FAST_S:
            if time.monotonic() - started > RECOVERY_LIMIT_S:
                break
        print(
            f"first resolve after flood {first * 1000:.0f} ms; under {FAST_S * 1000:.0f} ms "
            f"again after {time.monotonic() - started:.1f} s (last {took * 1000:.0f} ms); "
            f"contacts now {target.contact_count()}"
        )
    finally:
        raw.close()
        await net.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--values", type=int, default=50)
    parser.add_argument("--flood", type=int, default=1000)
    # Each flooding key must solve the id puzzle: at the shipped 20 bits, 1,000 keys cost the
    # attacker about 500 s of one core. A low difficulty measures the table's own defence.
    parser.add_argument("--id-difficulty", type=int, default=8)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
