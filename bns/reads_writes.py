"""A DHT node's reads and writes of one value: store it on its replicas, fetch and merge it.

The decisions are pure (bns/upkeep.py: when a write is done, who is behind; bns/replica.py:
merging answers); this module sends the requests and applies them for bns/dht.py's node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from badgechain.chain.resolve import Unreachable
from badgechain.storage import Kind, Store

from .lookups import Asker, run_paths
from .puzzle import ID_BYTES
from .replica import ValuePolicy, merge_answers
from .routing import Contact
from .upkeep import FetchResult, StoreResult, among_closest, behind, tally_store

__all__ = ["Replicas", "fetch", "store_value"]

log = logging.getLogger("badgechain.bns.dht")  # the node's log, as before the move


class Replicas(Asker, Protocol):
    """What reading and writing a value needs of its node (bns/dht.py's `DhtNode`)."""

    policy: ValuePolicy
    store: Store

    async def find_replicas(self, address: bytes) -> list[Contact]: ...
    def accept_store(self, address: object, value: object, sender: Contact | None) -> str: ...
    def held(self, address: bytes) -> bytes | None: ...
    def contact_count(self) -> int: ...


async def store_value(
    node: Replicas, value: bytes, replicas: Sequence[Contact] | None = None
) -> StoreResult:
    """Put `value` on the replicas `find_replicas` finds (and here, if this node is one);
    a caller that found them already for this address (nearest first) passes them.

    Raises the policy's error when the value is invalid, and `Unreachable` when no node
    answered. A result with `accepted == 0` means every replica refused it; `done` says
    whether `write_quorum` distinct hosts accepted it.
    """
    address = node.policy.address_of(value)
    node.policy.accept(address, None, value)  # never send what a storing node would refuse
    closest = list(replicas) if replicas is not None else await node.find_replicas(address)
    if not closest:
        raise Unreachable("no DHT node answered", code="dht_unreachable")
    if among_closest(node.me, address, closest[: node.settings.ksize], node.settings.ksize):
        node.accept_store(address, value, None)
    answers = await asyncio.gather(
        *(node.protocol.request(c, "store", address, value) for c in closest)
    )
    result = tally_store(address, closest, answers, node.host_of, node.settings.write_quorum)
    if result.accepted == 0 and result.unanswered == len(answers):
        raise Unreachable("no DHT node acknowledged the store", code="dht_unreachable")
    return result


async def fetch(node: Replicas, address: bytes, paths: int | None = None) -> FetchResult:
    """Merge the values the closest nodes hold for `address`, and repair the ones behind.

    Takes `paths` disjoint lookups (default: `read_paths`): one honest replica on any
    path is enough for the freshest value. When no node answered, asks once more, the
    contacts that failed lately included (a busy replica misses a datagram and is
    alive), then raises `Unreachable` (this node's own copy is not an answer).
    """
    if not (isinstance(address, bytes) and len(address) == ID_BYTES):
        raise ValueError("a DHT address is 20 bytes")
    trace: dict[str, int] = {}
    paths = node.settings.read_paths if paths is None else paths
    quorum = node.settings.read_quorum
    closest, replies = await run_paths(node, address, quorum, True, paths, trace)
    if not replies and node.contact_count():
        node.stats["fetches_retried"] += 1
        asked = trace["asked"]
        closest, replies = await run_paths(node, address, quorum, True, paths, trace, True)
        trace["asked"] += asked
    if not replies:
        raise Unreachable("no DHT node answered", code="dht_unreachable")
    own = node.held(address)
    answers = [(contact.id, reply) for contact, reply in replies]
    local = (own, node.store.get(Kind.PUBLISHED, address))
    merge = merge_answers(node.policy, address, answers, local)
    for index, code in merge.dropped:
        node.stats["answers_dropped"] += 1
        log.info("dropped an answer from %s:%s: %s", *replies[index][0].address, code)
    repair = [] if merge.value is None else behind(closest, merge.held_by, merge.value)
    if merge.value is not None and own is not None and own != merge.value:
        node.accept_store(address, merge.value, None)
    for contact in repair:
        node.spawn(node.protocol.request(contact, "store", address, merge.value))
    node.stats["fetches"] += 1
    dropped, rounds, asked = len(merge.dropped), trace["rounds"], trace["asked"]
    return FetchResult(
        merge.value, len(replies), merge.holders, dropped, len(repair), rounds, asked
    )
