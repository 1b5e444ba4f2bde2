"""A DHT network's parameters (docs/bns.md, "Settings"). Every timeout is a setting."""

from __future__ import annotations

from dataclasses import dataclass, field

from .guard import GuardSettings
from .puzzle import DEFAULT_ID_DIFFICULTY

__all__ = ["DhtSettings"]


@dataclass(frozen=True, slots=True)
class DhtSettings:
    ksize: int = 20  # replicas per value and contacts per bucket
    alpha: int = 3  # requests in flight per lookup
    read_quorum: int = 5  # closest live nodes a fetch waits for before merging
    # Disjoint lookups a fetch takes at once (S/Kademlia §4.4): no node is asked by two, so
    # liars crowding one route cannot answer for every path. 1: one lookup, as before.
    read_paths: int = 1
    rpc_timeout: float = 2.0  # when an unanswered request counts as a failure
    max_failures: int = 2  # failures in a row before a contact leaves the table
    max_in_flight: int = 32  # requests awaiting an answer at once, per node
    min_hedge: float = 0.01  # never hedge sooner than this...
    hedge_rtts: float = 4.0  # ...nor sooner than this many smoothed round trips
    republish_interval: float = 3600.0
    refresh_interval: float = 900.0
    # A join looks up a random id in this many of the id-space slices farther than its
    # nearest contact (Kademlia §2.3), nearest first: it fills its own buckets and puts it in
    # the tables of nodes all over the network. 0: none. At 8, N = 1,000 in 4 processes took
    # 360 s to join instead of 33 (benchmarks/RESULTS.md): few slices, the nearest, by default.
    join_refreshes: int = 2
    liveness_interval: float = 1.0  # one background ping round per interval
    liveness_batch: int = 3  # contacts pinged per round, the longest unheard first
    # A contact heard from (answer or request) this lately is not pinged; one that missed a
    # request since is, first. 2 s (every contact, each round) made N = 1,000 send 3,000 pings/s.
    liveness_quiet: float = 30.0
    bucket_ip_limit: int = 2  # contacts per bucket from one host (address_group)
    id_difficulty: int = DEFAULT_ID_DIFFICULTY  # zero bits of the node id puzzle
    lookup_group_limit: int = 2  # contacts per host among a lookup's closest
    write_quorum: int = 3  # distinct hosts that must accept a write before it is done
    write_retry_interval: float = 30.0  # how often a write short of its quorum is pushed again
    write_paths: int = 2  # disjoint lookups whose closest nodes a write goes to
    # A replica hands a value to a newcomer only while it is among this many of the nearest
    # nodes it knows (itself included), so a newcomer is not sent each value by all k.
    hand_over_senders: int = 3
    # What a node holds as a replica at most (bns/held.py): past it, values farthest from its
    # id are evicted or refused first; an update of a value it holds never is.
    max_held_values: int = 1_000_000
    max_held_bytes: int = 1 << 30
    guard: GuardSettings = field(default_factory=GuardSettings)
