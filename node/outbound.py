"""HTTP clients for what the node fetches or posts on others' say-so: badge locations,
inbox URLs, status lists and did:web documents all come from the network.

A public node (`--public`) connects only to global addresses, so a BNS location or an
inbox record naming 127.0.0.1, 10.0.0.8 or 169.254.169.254 cannot make it reach services
behind its firewall. The check is on the addresses the connection really uses (after DNS,
so a name that resolves to a private address is refused as well), not on the URL's text.
A loopback node (devnet, tests, a laptop) and a public node told `fetch_private` (a
private network such as docker compose's) connect anywhere. A guarded node may also be told
a few networks it may reach besides (`fetch_allow`, e.g. the loopback host of a test or an
intranet feed server): every other private address stays refused, redirects included.
A refusal is an `AddressRefused` (an OSError), so callers give it its own error code
(`refused_address` finds it inside aiohttp's connection error).

Tests serve third-party files at the URLs those files name (https://example.org/…) from a
local server through a host map: `BADGECHAIN_TEST_HOST_MAP` (JSON, origin → base URL),
honoured only when `BADGECHAIN_TEST_HOST_MAP_ENABLE=1` is set too, and refused outright by
a public node. Each fetcher maps the URL it connects to and reports the URL asked for.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.tracing import Trace

if TYPE_CHECKING:
    from .config import NodeConfig

from badgechain.chain.errors import BadgeChainError

__all__ = [
    "HOST_MAP_ENABLE_ENV",
    "HOST_MAP_ENV",
    "TLS_CA_FILE_ENV",
    "AddressRefused",
    "GlobalOnlyConnector",
    "HostMap",
    "Outbound",
    "allowed_networks",
    "client_session",
    "host_map",
    "only_global",
    "refused_address",
    "shown_url",
    "tls_context",
    "why_unreachable",
]

HOST_MAP_ENV = "BADGECHAIN_TEST_HOST_MAP"
HOST_MAP_ENABLE_ENV = "BADGECHAIN_TEST_HOST_MAP_ENABLE"
_MAX_HOST_MAP_BYTES = 64 * 1024
TLS_CA_FILE_ENV = "BADGECHAIN_TLS_CA_FILE"
_TLS_CONTEXTS: dict[str, ssl.SSLContext] = {}  # by CA file: one context per process


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(OSError):
    """A host whose addresses the outbound rules refuse (none global, none allowed)."""


class GlobalOnlyConnector(aiohttp.TCPConnector):
    """A connector that connects to global unicast addresses only, and to `allow`."""

    def __init__(self, *args: Any, allow: tuple[Network, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allow = allow

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        resolved = await super()._resolve_host(host, port, traces=traces)
        allowed = [result for result in resolved if _is_allowed(result["host"], self.allow)]
        if not allowed:  # aiohttp turns an OSError here into a ClientConnectorError
            raise AddressRefused(
                f"{host:.100} is not a public address; this node fetches only those"
            )
        return allowed


def _is_allowed(address: str, allow: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allow):
        return True
    return ip.is_global and not ip.is_multicast


def refused_address(exc: BaseException) -> bool:
    """Whether an outbound request failed because the outbound rules refused its address."""
    return isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, AddressRefused
    )


def why_unreachable(exc: BaseException) -> str:
    """Why a request got no answer, in words: never the HTTP library's exception text, which
    names its internals (`ClientConnectorError`, `ssl:default`) and reaches users through
    problem details, reports and the web page (issue 16 item 9)."""
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, AddressRefused):
        return str(exc.os_error)  # our own words: the host is not a public address
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "its host name does not resolve"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "its TLS certificate was not accepted"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "the connection was refused"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return "it closed the connection mid-answer"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return "it redirected too often"
    if isinstance(exc, aiohttp.InvalidURL):
        return "the URL is not valid"
    return _why_socket_failed(exc)


def _why_socket_failed(exc: BaseException) -> str:
    """`why_unreachable` for a client below aiohttp (smtplib): the OSError it raised."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "its TLS certificate was not accepted"
    if isinstance(exc, ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(exc, socket.gaierror):
        return "its host name does not resolve"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(exc, ConnectionError):
        return "it closed the connection"
    return "the connection failed"


_MAX_SHOWN_URL: Final = 300


def shown_url(url: str) -> str:
    """`url` for a message: whole (a badge's location is ~125 characters, and a URL cut
    short reads as a wrong one), or visibly cut with '…' when it is very long."""
    return url if len(url) <= _MAX_SHOWN_URL else url[: _MAX_SHOWN_URL - 1] + "…"


def allowed_networks(config: NodeConfig) -> tuple[Network, ...]:
    """The networks `fetch_allow` names (checked when the config was read)."""
    return tuple(ipaddress.ip_network(text, strict=False) for text in config.fetch_allow)


def only_global(config: NodeConfig) -> bool:
    """Whether the node must refuse to connect to non-global addresses."""
    return config.public and not config.fetch_private


def tls_context(config: NodeConfig) -> ssl.SSLContext | bool:
    """How outbound HTTPS checks certificates: True, against the system's roots; with a CA
    file (BADGECHAIN_TLS_CA_FILE, else config `tls_ca_file`), against those roots and that
    CA. Certificates and host names are always checked. BadgeChainError (`tls_ca_invalid`)
    when the file is not a readable PEM of certificates."""
    path = os.environ.get(TLS_CA_FILE_ENV) or config.tls_ca_file
    if not path:
        return True
    context = _TLS_CONTEXTS.get(path)
    if context is None:
        context = ssl.create_default_context()
        try:
            context.load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise BadgeChainError(
                f"the TLS CA file {path!r:.200} cannot be read: {exc}", code="tls_ca_invalid"
            ) from exc
        _TLS_CONTEXTS[path] = context
    return context


def client_session(config: NodeConfig, **options: Any) -> aiohttp.ClientSession:
    """An aiohttp session for outbound requests, guarded as `config` says."""
    if only_global(config):
        allow = allowed_networks(config)
        options["connector"] = GlobalOnlyConnector(family=socket.AF_UNSPEC, allow=allow)
    return aiohttp.ClientSession(**options)


class Outbound:
    """The node's client for outbound HTTP, guarded as its config says."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config

    def session(self, **options: Any) -> aiohttp.ClientSession:
        return client_session(self.config, **options)


class HostMap:
    """Origins (scheme://host[:port]) rewritten to local base URLs: tests only."""

    def __init__(self, routes: dict[str, str]) -> None:
        self.routes = {origin.rstrip("/"): base.rstrip("/") for origin, base in routes.items()}

    def __bool__(self) -> bool:
        return bool(self.routes)

    def to_local(self, url: str) -> str:
        """The URL to connect to for `url`."""
        return _rebase(url, self.routes)

    def to_public(self, url: str) -> str:
        """The URL a local answer stands for (where a redirect led, as the files name it)."""
        return _rebase(url, {base: origin for origin, base in self.routes.items()})


def _rebase(url: str, routes: dict[str, str]) -> str:
    for prefix, target in routes.items():
        if url == prefix or url.startswith(prefix + "/"):
            return target + url[len(prefix) :]
    return url


def host_map(config: NodeConfig) -> HostMap:
    """The test host map from the environment; empty unless explicitly enabled.

    Raises BadgeChainError (`host_map_refused`) on a public node, and (`host_map_invalid`)
    when the variable is not a JSON object of origins to http(s) base URLs.
    """
    text = os.environ.get(HOST_MAP_ENV, "")
    if not text or os.environ.get(HOST_MAP_ENABLE_ENV) != "1":
        return HostMap({})
    if config.public:
        raise BadgeChainError(
            f"{HOST_MAP_ENV} is for tests and is refused on a public node", code="host_map_refused"
        )
    try:
        routes = json.loads(text[:_MAX_HOST_MAP_BYTES])
    except ValueError:
        routes = None
    if not isinstance(routes, dict) or not all(
        isinstance(key, str)
        and isinstance(value, str)
        and key.startswith(("http://", "https://"))
        and value.startswith(("http://", "https://"))
        for key, value in routes.items()
    ):
        raise BadgeChainError(
            f"{HOST_MAP_ENV} must be a JSON object of origins to http(s) base URLs",
            code="host_map_invalid",
        )
    return HostMap(routes)
