"""Fetching over HTTP for verification: bounded GETs under the outbound rules, and a badge
fetched from its BNS locations (the first that serves it wins; one bad mirror hides no
good one). node/resolvers.py builds the verifier's resolvers on these.
"""

from __future__ import annotations

import logging
import ssl
import weakref
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

from badgechain.chain import bake
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.resolve import Unreachable
from badgechain.chain.uid import Uid

from .badgestore import credential_uid
from .bns_access import BnsAccess, NodeBns
from .config import NodeConfig
from .errors import NodeError
from .outbound import HostMap, client_session, host_map, shown_url, why_unreachable
from .services import Services

log = logging.getLogger(__name__)

__all__ = [
    "MAX_BADGE_BYTES",
    "MAX_DID_DOCUMENT_BYTES",
    "MAX_DOCUMENT_BYTES",
    "MAX_DOCUMENT_REDIRECTS",
    "MAX_STATUS_LIST_BYTES",
    "FetchError",
    "NotPublished",
    "credential_of",
    "fetch_badge",
    "fetch_badge_by_uid",
    "get",
    "get_bounded",
    "mapped_session",
]

MAX_DID_DOCUMENT_BYTES: Final = 64 * 1024
MAX_BADGE_BYTES: Final = 1024 * 1024  # a credential (or a baked image) served at a BNS location
MAX_STATUS_LIST_BYTES: Final = 1024 * 1024  # a list credential (16 KiB of bits compress far below)
# An OB 2.0 hosted assertion, badge class, issuer, key, revocation list or a JWKS.
MAX_DOCUMENT_BYTES: Final = 1024 * 1024
MAX_DOCUMENT_REDIRECTS: Final = 3


class FetchError(NodeError):
    """A server answered, but not with what was asked (status, size, or content)."""

    code = "fetch_failed"


class NotPublished(NodeError):
    """The BNS knows the UID, but its earner published no place to fetch the badge."""

    code = "location_missing"


def _session(config: NodeConfig, timeout_s: float) -> aiohttp.ClientSession:
    # Bodies are read raw and bounded: no transparent decompression, so no gzip bomb.
    return client_session(
        config,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        auto_decompress=False,
        headers={"Accept-Encoding": "identity"},
    )


async def get_bounded(
    session: aiohttp.ClientSession, url: str, max_bytes: int, tls: ssl.SSLContext | bool = True
) -> bytes | None:
    """The body of a 200 answer to GET `url`, at most `max_bytes`; None for 404 or 410.

    Redirects are not followed (did:web forbids them; a location names the badge itself).
    """
    got = await get(session, url, max_bytes, tls)
    return None if got is None else got[0]


async def get(
    session: aiohttp.ClientSession,
    url: str,
    max_bytes: int,
    tls: ssl.SSLContext | bool = True,
    *,
    redirects: int = 0,
) -> tuple[bytes, str, str] | None:
    """(body, content type, final URL) of a 200 answer to GET `url`; None for 404 or 410.
    `url` goes through the test host map (node/outbound.py) when one is enabled."""
    hosts = _HOST_MAPS.get(session) or HostMap({})
    local = hosts.to_local(url)
    try:
        async with session.get(
            local,
            allow_redirects=redirects > 0,
            max_redirects=max(redirects, 1),
            ssl=tls,
            **_as_named(url, local),
        ) as response:
            if response.status in (404, 410):
                return None
            if response.status >= 500:
                raise Unreachable(f"{shown_url(url)} answered HTTP {response.status}")
            if response.status != 200:
                raise FetchError(f"{shown_url(url)} answered HTTP {response.status}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(
                        f"{shown_url(url)} sent over {max_bytes} bytes", code="fetch_too_large"
                    )
                chunks.append(chunk)
            media = response.content_type
            final = hosts.to_public(str(response.url)) if redirects else url
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unreachable(f"{shown_url(url)}: {why_unreachable(exc)}") from exc
    return b"".join(chunks), media, final


def _as_named(url: str, local: str) -> dict[str, Any]:
    """For an https URL the test host map sent elsewhere: the certificate is still checked
    for the host the URL names (and the request says that host), as without the map."""
    named = urlsplit(url)
    if local == url or named.scheme != "https" or not local.startswith("https://"):
        return {}
    return {"server_hostname": named.hostname, "headers": {"Host": named.netloc}}


# The host map a session was opened with (tests only; see node/outbound.py).
_HOST_MAPS: weakref.WeakKeyDictionary[aiohttp.ClientSession, HostMap] = weakref.WeakKeyDictionary()


def mapped_session(config: NodeConfig, timeout_s: float) -> aiohttp.ClientSession:
    """The session verification fetches with: `timeout_s` per request (NodeSettings
    .fetch_timeout_s), and the test host map when one is enabled."""
    hosts = host_map(config)
    session = _session(config, timeout_s)
    if hosts:
        _HOST_MAPS[session] = hosts
    return session


def credential_of(body: bytes) -> dict[str, Any] | None:
    """The credential a location serves: JSON, or baked in a PNG or SVG (OB 3.0 JSON only)."""
    try:
        if body.startswith(b"\x89PNG") or body.lstrip()[:1] == b"<":
            unbaked = bake.unbake(body)
            if unbaked.kind != "ob3" or unbaked.encoding != "json":
                return None
            body = unbaked.payload.encode()
        value = parse_json(body)
    except BadgeChainError:
        return None
    return value if isinstance(value, dict) else None


def _names_uid(credential: dict[str, Any] | None, uid: Uid) -> bool:
    if credential is None:
        return False
    try:
        return credential_uid(credential) == uid
    except BadgeChainError:
        return False


async def fetch_badge_by_uid(node: Services, uid: Uid) -> bytes:
    """The badge of `uid` as served at one of its BNS locations (the raw body).

    Raises NotFound (no BNS record), NotPublished (no location, or hidden), Unreachable
    (no location answered), or FetchError (they answered without this badge).
    """
    async with mapped_session(node.config, node.settings.fetch_timeout_s) as session:
        return await fetch_badge(NodeBns(node), uid, session)


async def fetch_badge(bns: BnsAccess, uid: Uid, session: aiohttp.ClientSession) -> bytes:
    """`fetch_badge_by_uid` with the BNS and the session given (a linked badge's fetch)."""
    answer = await bns.resolve(uid)
    if answer.urls is None:
        raise NotPublished("the badge's earner has published no location for it")
    if not answer.urls:
        raise NotPublished("the badge's earner has hidden it", code="badge_hidden")
    failures: list[BadgeChainError] = []
    for url in answer.urls:
        try:
            body = await get_bounded(session, url, MAX_BADGE_BYTES)
        except BadgeChainError as exc:
            failures.append(exc)
            continue
        if body is not None and _names_uid(credential_of(body), uid):
            return body
        # One bad mirror must not hide a good one: note it and try the next location.
        log.info("a badge location does not serve the badge", extra={"url": url[:120]})
        failures.append(
            FetchError(f"{shown_url(url)} does not serve this badge", code="location_invalid")
        )
    detail = "; ".join(failure.message for failure in failures)
    if all(isinstance(failure, Unreachable) for failure in failures):
        raise Unreachable(
            f"no location of the badge answered: {detail}", code="location_unreachable"
        )
    raise FetchError(f"no location serves the badge: {detail}", code="location_invalid")
