"""What online verification needs besides the badge (`VerifierContext`), and a running
node's own (`node_context`): node/resolvers.py verifies with it."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from badgechain.chain.resolve import TrustPolicy

from .bns_access import BnsAccess, NodeBns
from .config import NodeConfig
from .services import NodeSettings, Services
from .status_list_cache import CachedList
from .trust import policy_of_home

__all__ = ["VerifierContext", "node_context"]


@dataclass(slots=True)
class VerifierContext:
    """What online verification needs besides the badge: the outbound rules (`config`), a
    clock, where to ask the BNS (None: nowhere), and a cache of checked status lists."""

    config: NodeConfig
    clock: Callable[[], datetime]
    bns: BnsAccess | None = None
    status_cache: dict[str, CachedList] = field(default_factory=dict)
    # How did:web documents are fetched over HTTPS: True checks certificates against the
    # system's roots; a context trusts what it was given (tests use their own CA); None:
    # the config's (node/outbound.py `tls_context`: the roots and its CA file, if any).
    tls: ssl.SSLContext | bool | None = None
    # The timings: a fetch, a resolver call, a status list's default freshness.
    settings: NodeSettings = field(default_factory=NodeSettings)
    trust: TrustPolicy | None = None  # the home's registry (node/trust.py); None: not checked


def node_context(
    node: Services, tls: ssl.SSLContext | bool | None = None, *, bns: BnsAccess | None = None
) -> VerifierContext:
    """A running node's verifier: its DHT and store, and its status-list cache; `tls` None:
    the node's own (node/outbound.py `tls_context`: the system's roots and its CA file);
    `bns`: where the BNS is asked, if not the node's own (e.g. one that traces)."""
    return VerifierContext(
        node.config,
        node.clock,
        NodeBns(node) if bns is None else bns,
        node.status_cache.lists,
        tls,
        node.settings,
        policy_of_home(node.home),
    )
