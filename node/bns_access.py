"""Where verification asks the BNS: a running node's DHT (`NodeBns`), or a gateway over
HTTP (`GatewayBns`, the CLI's), both answering the same `BnsAnswer`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import quote

import aiohttp

from badgechain.bns.errors import NotFound
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keys import PublicKey, did_key_from_public_key, public_key_from_did_key
from badgechain.chain.resolve import BnsView, Unreachable
from badgechain.chain.uid import Uid, uid_text

from .badgestore import load_badge
from .outbound import shown_url, why_unreachable
from .services import Services

__all__ = [
    "MAX_GATEWAY_ANSWER_BYTES",
    "BnsAccess",
    "BnsAnswer",
    "GatewayBns",
    "NodeBns",
    "bns_view_of",
]

# A gateway's answer about one UID or one index page.
MAX_GATEWAY_ANSWER_BYTES: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class BnsAnswer:
    """A BNS record as verification reads it, from a node's DHT or a gateway's JSON."""

    issuer_key: PublicKey
    earner_key: PublicKey | None
    urls: tuple[str, ...] | None  # None: no location published; empty: hidden
    revoked: bool
    reason: str


class BnsAccess(Protocol):
    """Where verification asks the BNS: a node's DHT, or a gateway over HTTP."""

    async def resolve(self, uid: Uid) -> BnsAnswer:
        """The UID's record; NotFound when the network holds none; Unreachable."""

    async def issuer_publishes(self, issuer_key: PublicKey) -> bool:
        """Whether the issuer's first index page holds an item; Unreachable."""

    async def held_badge(self, uid: Uid) -> dict[str, Any] | None:
        """A badge held at hand (a node's store), without asking its location."""


class NodeBns:
    """The BNS as a running node reads it: DHT lookups, merged and validated."""

    def __init__(self, node: Services) -> None:
        self.node = node

    async def resolve(self, uid: Uid) -> BnsAnswer:
        record = await self.node.names.resolve(uid)
        entry, location, revocation = record.entry, record.location, record.revocation
        return BnsAnswer(
            entry.issuer_key,
            entry.earner_key,
            None if location is None else tuple(location.urls),
            revocation is not None,
            revocation.reason if revocation else "",
        )

    async def issuer_publishes(self, issuer_key: PublicKey) -> bool:
        """Known here (this node's own key, or a first index page this node stores as a
        replica) or asked of the DHT. Without a DHT answer, a page known here still counts:
        that is what makes a badge of a known publisher indeterminate, not valid, when the
        DHT is away."""
        node = self.node
        if issuer_key == node.key.public_key:
            return True
        if node.names.holds_issuer_index(issuer_key):
            return True
        page = await node.names.issuer_page(issuer_key, 0)
        return bool(page.members)

    async def held_badge(self, uid: Uid) -> dict[str, Any] | None:
        return load_badge(self.node.store, uid)


class GatewayBns:
    """The BNS as a gateway shows it (`GET /bns/{uid}`, `GET /issuers/{did}/badges`): the
    CLI asks its home's node, or the gateway named by --gateway. The gateway is trusted
    as the node the user runs; what it answers is still checked against the credential."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session

    async def _get_json(self, path: str) -> Any:
        url = self.base_url + path
        try:
            async with self.session.get(url, allow_redirects=False) as response:
                status, body = response.status, b""
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_GATEWAY_ANSWER_BYTES:
                        break  # parse_json refuses it below
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unreachable(
                f"the gateway {shown_url(self.base_url)} did not answer: {why_unreachable(exc)}",
                code="gateway_unreachable",
            ) from exc
        try:
            answer = parse_json(body, max_bytes=MAX_GATEWAY_ANSWER_BYTES)
        except BadgeChainError as exc:
            raise Unreachable(f"the gateway answered {status} without JSON") from exc
        if status == 404 and isinstance(answer, dict) and answer.get("code") == "bns_not_found":
            raise NotFound(str(answer.get("detail", "no BNS record"))[:200])
        if status != 200:
            code = answer.get("code") if isinstance(answer, dict) else None
            raise Unreachable(
                f"the gateway answered HTTP {status}",
                code=code if isinstance(code, str) and code.isidentifier() else "gateway_error",
            )
        return answer

    async def resolve(self, uid: Uid) -> BnsAnswer:
        record = await self._get_json(f"/bns/{uid_text(uid)}")
        try:
            location = record.get("location")
            urls = location.get("urls") if isinstance(location, dict) else None
            revocation = record.get("revocation") or {}
            earner = record.get("earner")
            return BnsAnswer(
                public_key_from_did_key(record["issuer"]),
                public_key_from_did_key(earner) if earner else None,
                None if urls is None else tuple(str(url) for url in urls[:16]),
                bool(record.get("revoked")),
                str(revocation.get("reason", ""))[:500],
            )
        except (BadgeChainError, AttributeError, KeyError, TypeError) as exc:
            raise Unreachable("the gateway's BNS record is malformed") from exc

    async def issuer_publishes(self, issuer_key: PublicKey) -> bool:
        did = quote(did_key_from_public_key(issuer_key), safe=":")
        page = await self._get_json(f"/issuers/{did}/badges?page=0")
        items = page.get("items") if isinstance(page, dict) else None
        return bool(items)

    async def held_badge(self, uid: Uid) -> dict[str, Any] | None:
        try:
            badge = await self._get_json(f"/badges/{uid_text(uid)}")
        except (NotFound, Unreachable):
            return None  # not held there: its location is asked next
        return badge if isinstance(badge, dict) else None


# The did:key of a BNS entry's keys (base58 in pure Python: tens of microseconds each), for
# every verification of a badge answered from the BNS.
_did_key = functools.lru_cache(maxsize=4096)(did_key_from_public_key)


def bns_view_of(answer: BnsAnswer, uid: str, web_names: Mapping[PublicKey, str]) -> BnsView:
    """What chain.verify is told of a BNS answer. It compares the entry's issuer with the
    credential's issuer by name, and a BNS entry holds a key: a did:web issuer whose document
    (read and checked in this run: `web_names`) lists that key is the same issuer. Otherwise
    the key's own name, its did:key."""
    issuer = web_names.get(answer.issuer_key) or _did_key(answer.issuer_key)
    return BnsView(
        uid=uid,
        issuer_did=issuer,
        earner=_did_key(answer.earner_key) if answer.earner_key else None,
        revoked=answer.revoked,
        revocation_reason=answer.reason,
        hidden=answer.urls is not None and not answer.urls,
    )
