"""HTTP clients for what the node fetches or posts on others' say-so: badge locations,
inbox URLs, status lists and did:web documents all come from the network.

A public node (`--public`) connects only to global addresses, so a BNS location or an
inbox record naming 127.0.0.1, 10.0.0.8 or 169.254.169.254 cannot make it reach services
behind its firewall. The check is on the addresses the connection really uses (after DNS,
so a name that resolves to a private address is refused as well), not on the URL's text.
A loopback node (devnet, tests, a laptop) and a public node told `fetch_private` (a
private network such as docker compose's) connect anywhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.tracing import Trace

if TYPE_CHECKING:
    from .config import NodeConfig

__all__ = ["GlobalOnlyConnector", "client_session", "only_global"]


class GlobalOnlyConnector(aiohttp.TCPConnector):
    """A connector that connects to global unicast addresses only."""

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        resolved = await super()._resolve_host(host, port, traces=traces)
        allowed = [result for result in resolved if _is_global(result["host"])]
        if not allowed:  # aiohttp turns an OSError here into a ClientConnectorError
            raise OSError(f"{host:.100} is not a public address; this node fetches only those")
        return allowed


def _is_global(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def only_global(config: NodeConfig) -> bool:
    """Whether the node must refuse to connect to non-global addresses."""
    return config.public and not config.fetch_private


def client_session(config: NodeConfig, **options: Any) -> aiohttp.ClientSession:
    """An aiohttp session for outbound requests, guarded as `config` says."""
    if only_global(config):
        options["connector"] = GlobalOnlyConnector(family=socket.AF_UNSPEC)
    return aiohttp.ClientSession(**options)
