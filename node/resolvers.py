"""Online verification: chain.verify with real resolvers (the BNS over the DHT, did:web over
HTTPS, linked badges fetched from their BNS locations).

chain.verify is synchronous and pure, so it runs in a worker thread; each resolver call it
makes hops back onto the event loop and waits there, bounded, for its answer.

The same resolvers serve a running node (its DHT and store) and the CLI without one
(`VerifierContext`: the BNS asked through a gateway, or not at all): one policy for both.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
import threading
import weakref
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import aiohttp

from badgechain.bns.errors import NotFound
from badgechain.bns.index import issuer_page_key
from badgechain.bns.values import address_of_key
from badgechain.chain import bake
from badgechain.chain.errors import BadgeChainError, IdentityError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keys import (
    PublicKey,
    did_key_document,
    did_key_from_public_key,
    did_web_url,
    public_key_from_did_key,
    read_did_document,
)
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.resolve import BnsView, Fetched, Resolvers, Unreachable
from badgechain.chain.statuslist import (
    STATUS_LIST_FETCHER,
    CheckedList,
    StatusListError,
    check_list_credential,
    list_proof_verifier,
)
from badgechain.chain.uid import Uid, uid_text
from badgechain.chain.verify import Report, verify_badge

from .badgestore import credential_uid, load_badge
from .config import NodeConfig
from .errors import NodeError
from .outbound import HostMap, client_session, host_map
from .services import Services

log = logging.getLogger(__name__)

__all__ = [
    "CALL_TIMEOUT_S",
    "HTTP_TIMEOUT_S",
    "MAX_BADGE_BYTES",
    "MAX_CACHED_LISTS",
    "MAX_DID_DOCUMENT_BYTES",
    "MAX_DOCUMENT_BYTES",
    "MAX_STATUS_LIST_BYTES",
    "STATUS_CACHE_DEFAULT",
    "BnsAccess",
    "BnsAnswer",
    "FetchError",
    "GatewayBns",
    "NodeBns",
    "NotPublished",
    "VerifierContext",
    "fetch_badge_by_uid",
    "node_context",
    "verify_online",
    "verify_with",
]

MAX_DID_DOCUMENT_BYTES = 64 * 1024
MAX_BADGE_BYTES = 1024 * 1024  # a credential (or a baked image) served at a BNS location
MAX_STATUS_LIST_BYTES = 1024 * 1024  # a list credential (16 KiB of bits compress far below)
# An OB 2.0 hosted assertion, badge class, issuer, key, revocation list or a JWKS.
MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_DOCUMENT_REDIRECTS = 3
# A gateway's answer about one UID or one index page.
MAX_GATEWAY_ANSWER_BYTES = 256 * 1024
STATUS_CACHE_DEFAULT = timedelta(minutes=5)  # for a list that gives neither ttl nor validUntil
# Anyone can sign lists at URLs of their own, so the cache holds at most this many (oldest out).
MAX_CACHED_LISTS = 512
HTTP_TIMEOUT_S = 5.0
# One resolver call as the worker thread waits for it: a DHT lookup, or one fetch per URL.
CALL_TIMEOUT_S = 20.0
_T = TypeVar("_T")


class FetchError(NodeError):
    """A server answered, but not with what was asked (status, size, or content)."""

    code = "fetch_failed"


class NotPublished(NodeError):
    """The BNS knows the UID, but its earner published no place to fetch the badge."""

    code = "location_missing"


def _session(config: NodeConfig) -> aiohttp.ClientSession:
    # Bodies are read raw and bounded: no transparent decompression, so no gzip bomb.
    return client_session(
        config,
        timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S),
        auto_decompress=False,
        headers={"Accept-Encoding": "identity"},
    )


async def _get_bounded(
    session: aiohttp.ClientSession, url: str, max_bytes: int, tls: ssl.SSLContext | bool = True
) -> bytes | None:
    """The body of a 200 answer to GET `url`, at most `max_bytes`; None for 404 or 410.

    Redirects are not followed (did:web forbids them; a location names the badge itself).
    """
    got = await _get(session, url, max_bytes, tls)
    return None if got is None else got[0]


async def _get(
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
    try:
        async with session.get(
            hosts.to_local(url),
            allow_redirects=redirects > 0,
            max_redirects=max(redirects, 1),
            ssl=tls,
        ) as response:
            if response.status in (404, 410):
                return None
            if response.status >= 500:
                raise Unreachable(f"{url:.120} answered HTTP {response.status}")
            if response.status != 200:
                raise FetchError(f"{url:.120} answered HTTP {response.status}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(
                        f"{url:.120} sent over {max_bytes} bytes", code="fetch_too_large"
                    )
                chunks.append(chunk)
            media = response.content_type
            final = hosts.to_public(str(response.url)) if redirects else url
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unreachable(f"{url:.120}: {type(exc).__name__} {exc}"[:300]) from exc
    return b"".join(chunks), media, final


# The host map a session was opened with (tests only; see node/outbound.py).
_HOST_MAPS: weakref.WeakKeyDictionary[aiohttp.ClientSession, HostMap] = weakref.WeakKeyDictionary()


def _mapped_session(config: NodeConfig) -> aiohttp.ClientSession:
    hosts = host_map(config)
    session = _session(config)
    if hosts:
        _HOST_MAPS[session] = hosts
    return session


def _credential_of(body: bytes) -> dict[str, Any] | None:
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
    async with _mapped_session(node.config) as session:
        return await _fetch_badge(NodeBns(node), uid, session)


async def _fetch_badge(bns: BnsAccess, uid: Uid, session: aiohttp.ClientSession) -> bytes:
    answer = await bns.resolve(uid)
    if answer.urls is None:
        raise NotPublished("the badge's earner has published no location for it")
    if not answer.urls:
        raise NotPublished("the badge's earner has hidden it", code="badge_hidden")
    failures: list[BadgeChainError] = []
    for url in answer.urls:
        try:
            body = await _get_bounded(session, url, MAX_BADGE_BYTES)
        except BadgeChainError as exc:
            failures.append(exc)
            continue
        if body is not None and _names_uid(_credential_of(body), uid):
            return body
        # One bad mirror must not hide a good one: note it and try the next location.
        log.info("a badge location does not serve the badge", extra={"url": url[:120]})
        failures.append(
            FetchError(f"{url:.120} does not serve this badge", code="location_invalid")
        )
    detail = "; ".join(failure.message for failure in failures)
    if all(isinstance(failure, Unreachable) for failure in failures):
        raise Unreachable(
            f"no location of the badge answered: {detail}", code="location_unreachable"
        )
    raise FetchError(f"no location serves the badge: {detail}", code="location_invalid")


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
        if node.dht.held(address_of_key(issuer_page_key(issuer_key, 0))) is not None:
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
                f"the gateway {self.base_url:.100} did not answer: {type(exc).__name__}",
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


@dataclass(slots=True)
class VerifierContext:
    """What online verification needs besides the badge: the outbound rules (`config`), a
    clock, where to ask the BNS (None: nowhere), and a cache of checked status lists."""

    config: NodeConfig
    clock: Callable[[], datetime]
    bns: BnsAccess | None = None
    status_cache: dict[str, _CachedList] = field(default_factory=dict)
    # How did:web documents are fetched over HTTPS: True checks certificates against the
    # system's roots; a context trusts what it was given (tests use their own CA).
    tls: ssl.SSLContext | bool = True


def node_context(node: Services, tls: ssl.SSLContext | bool = True) -> VerifierContext:
    """A running node's verifier: its DHT and store, and its status-list cache."""
    return VerifierContext(node.config, node.clock, NodeBns(node), node.status_cache.lists, tls)


async def verify_online(
    node: Services,
    data: bytes,
    expected_uid: str | None = None,
    *,
    tls: ssl.SSLContext | bool = True,
    recipient: str | None = None,
) -> Report:
    """Verify `data` (JSON, VC-JWT, baked PNG or SVG) with every resolver this node has.

    Status lists are fetched (or taken from this node's cache while fresh) and checked in
    full by chain.verify; see `_OnlineResolvers.status_list`.
    """
    return await verify_with(node_context(node, tls), data, expected_uid, recipient=recipient)


async def verify_with(
    context: VerifierContext,
    data: bytes,
    expected_uid: str | None = None,
    *,
    recipient: str | None = None,
) -> Report:
    """Verify `data` with the resolvers `context` gives (the node's, or the CLI's).
    `recipient`: the identity (an email) an OB 2.0 badge must be for, when one is named."""
    now = context.clock()
    async with _mapped_session(context.config) as session:
        online = _OnlineResolvers(context, asyncio.get_running_loop(), session)
        try:
            return await asyncio.to_thread(
                verify_badge,
                data,
                now=now,
                resolvers=online.resolvers(),
                expected_uid=expected_uid,
                recipient=recipient,
            )
        finally:
            online.abandoned = True  # a thread still running past a timeout stops asking


class _OnlineResolvers:
    """The resolvers of one verification: sync callables for the worker thread, each answered
    by a coroutine run on the event loop."""

    def __init__(
        self,
        context: VerifierContext,
        loop: asyncio.AbstractEventLoop,
        session: aiohttp.ClientSession,
    ) -> None:
        self.context = context
        self.loop = loop
        self.session = session
        self.tls = context.tls
        self.abandoned = False
        # did:web names of keys read from DID documents in this run (see `bns`).
        self.web_names: dict[PublicKey, str] = {}

    def resolvers(self) -> Resolvers:
        has_bns = self.context.bns is not None
        return Resolvers(
            did_documents=self.did_document,
            bns=self.bns if has_bns else None,
            bns_publishes=self.issuer_publishes if has_bns else None,
            badges=self.badge if has_bns else None,
            documents=self.document,
            extra={STATUS_LIST_FETCHER: self.status_list},
        )

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run `coro` on the event loop and wait for it from this worker thread."""
        if self.abandoned:
            coro.close()
            raise Unreachable("the verification was abandoned")
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError as exc:  # the loop has closed: the node stopped
            coro.close()
            raise Unreachable("the node stopped during the verification") from exc
        try:
            return future.result(CALL_TIMEOUT_S)
        except TimeoutError as exc:
            future.cancel()
            raise Unreachable(f"no answer within {CALL_TIMEOUT_S:.0f} s") from exc
        except concurrent.futures.CancelledError as exc:
            raise Unreachable("the lookup was cancelled") from exc
        except Exception as exc:
            if self.abandoned:  # e.g. the HTTP session closed under a call still running
                raise Unreachable("the verification was abandoned") from exc
            raise

    # -- documents by URL ----------------------------------------------------------------------

    def document(self, url: str) -> Fetched | None:
        """A document a verifier fetches by URL (chain.resolve.DocumentFetcher): at most
        1 MiB, 5 s, up to 3 redirects (each connection under the outbound rules, so a public
        node is never led to a private address); None for 404/410; anything else that is not
        a 200 answer is Unreachable."""
        if not url.startswith(("https://", "http://")) or len(url) > 2048:
            raise Unreachable(f"cannot fetch {url:.100}", code="document_url_unsupported")
        try:
            got = self._call(
                _get(
                    self.session,
                    url,
                    MAX_DOCUMENT_BYTES,
                    self.tls,
                    redirects=MAX_DOCUMENT_REDIRECTS,
                )
            )
        except FetchError as exc:
            raise Unreachable(exc.message, code=exc.code) from exc
        if got is None:
            return None
        body, media, final = got
        return Fetched(url=url, final_url=final, content_type=media, body=body)

    # -- DID documents -------------------------------------------------------------------------

    def did_document(self, did: str) -> dict[str, Any] | None:
        if did.startswith("did:key:"):
            return did_key_document(did)
        document = self._call(self._fetch_did_document(did))
        if document is not None:
            try:
                for key in read_did_document(document, did).values():
                    self.web_names[key] = did
            except BadgeChainError:
                pass  # the verifier reads the document again and reports what is wrong
        return document

    async def _fetch_did_document(self, did: str) -> dict[str, Any] | None:
        body = await _get_bounded(self.session, did_web_url(did), MAX_DID_DOCUMENT_BYTES, self.tls)
        if body is None:
            return None
        document = parse_json(body, max_bytes=MAX_DID_DOCUMENT_BYTES)
        if not isinstance(document, dict):
            raise IdentityError(
                f"the DID document of {did:.100} is not a JSON object", code="did_document_invalid"
            )
        return document

    # -- the BNS -------------------------------------------------------------------------------

    @property
    def _bns(self) -> BnsAccess:
        assert self.context.bns is not None, "no BNS resolver without a BNS"
        return self.context.bns

    def bns(self, uid: str) -> BnsView | None:
        return self._call(self._bns_view(uid))

    async def _bns_view(self, uid: str) -> BnsView | None:
        try:
            answer = await self._bns.resolve(Uid(multibase_decode(uid)))
        except NotFound:
            return None
        # chain.verify compares the entry's issuer with the credential's issuer by name, and
        # a BNS entry holds a key: a did:web issuer whose document (read and checked in this
        # run) lists that key is the same issuer. Otherwise the key's own name, its did:key.
        issuer = self.web_names.get(answer.issuer_key) or did_key_from_public_key(answer.issuer_key)
        return BnsView(
            uid=uid,
            issuer_did=issuer,
            earner=did_key_from_public_key(answer.earner_key) if answer.earner_key else None,
            revoked=answer.revoked,
            revocation_reason=answer.reason,
            hidden=answer.urls is not None and not answer.urls,
        )

    def issuer_publishes(self, signer_did: str) -> bool:
        return self._call(self._bns.issuer_publishes(public_key_from_did_key(signer_did)))

    # -- status lists --------------------------------------------------------------------------

    def status_list(self, url: str) -> CheckedList | None:
        """The list at `url`, checked: from the cache while fresh, else fetched (bounded, no
        redirects) and cached once its proof, URL, freshness and length check out.
        chain.verify then checks it against the credential and its entry."""
        now = self.context.clock()
        cache = self.context.status_cache
        cached = cache.get(url)
        if cached is not None and now < cached.fresh_until:
            return cached.checked
        cache.pop(url, None)  # stale: never answer from it again
        if not url.startswith(("https://", "http://")):
            raise StatusListError(f"cannot fetch a status list from {url:.100}")
        try:
            body = self._call(_get_bounded(self.session, url, MAX_STATUS_LIST_BYTES, self.tls))
        except FetchError as exc:
            if exc.code == "fetch_too_large":
                raise StatusListError(exc.message, code="status_list_too_large") from exc
            raise Unreachable(exc.message, code="status_list_unavailable") from exc
        if body is None:
            return None
        try:
            document = parse_json(body, max_bytes=MAX_STATUS_LIST_BYTES)
        except BadgeChainError as exc:
            raise StatusListError(f"the status list is not JSON: {exc.message}") from exc
        verify = list_proof_verifier(self.did_document)
        checked = check_list_credential(document, list_url=url, now=now, verify_list_proof=verify)
        assert isinstance(document, dict)
        with _STATUS_CACHE_LOCK:  # worker threads of several verifications share the cache
            while len(cache) >= MAX_CACHED_LISTS:
                cache.pop(next(iter(cache)), None)
            cache[url] = _CachedList(checked, _fresh_until(document, now))
        return checked

    # -- linked badges -------------------------------------------------------------------------

    def badge(self, uid: str) -> dict[str, Any] | None:
        return self._call(self._linked_badge(uid))

    async def _linked_badge(self, uid_text: str) -> dict[str, Any] | None:
        """A badge another one links to (urn:bns:UID): held at hand, or fetched from its
        location. Either way chain.verify verifies it in full, its UID included."""
        uid = Uid(multibase_decode(uid_text))
        held = await self._bns.held_badge(uid)
        if held is not None:
            return held
        try:
            body = await _fetch_badge(self._bns, uid, self.session)
        except NotFound:
            return None
        except (NotPublished, FetchError) as exc:  # it exists; it cannot be checked now
            raise Unreachable(f"linked badge not available: {exc.message}", code=exc.code) from exc
        return _credential_of(body)


@dataclass(frozen=True, slots=True)
class _CachedList:
    checked: CheckedList
    fresh_until: datetime


# Verified status lists by URL, per node. Single gets and pops are atomic under the GIL;
# eviction iterates, so writers take the lock.
_STATUS_CACHE_LOCK = threading.Lock()


def _fresh_until(document: dict[str, Any], fetched: datetime) -> datetime:
    """min(validUntil, fetched + ttl), the list's own bounds on how long to trust a copy."""
    subject = document.get("credentialSubject")
    ttl = subject.get("ttl") if isinstance(subject, dict) else None
    bounds = [fetched + STATUS_CACHE_DEFAULT]
    if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl >= 0:
        bounds = [fetched + timedelta(milliseconds=min(ttl, 86_400_000))]
    until = document.get("validUntil")
    if isinstance(until, str):
        try:
            bounds.append(datetime.fromisoformat(until))
        except ValueError:
            return fetched
    return min(bounds)
