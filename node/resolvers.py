"""Online verification: chain.verify with real resolvers (the BNS over the DHT, did:web over
HTTPS, linked badges fetched from their BNS locations).

chain.verify is synchronous and pure, so it runs in a worker thread; each resolver call it
makes hops back onto the node's event loop and waits there, bounded, for its answer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
import threading
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from badgechain.bns.errors import NotFound
from badgechain.bns.record import Uid
from badgechain.chain import bake
from badgechain.chain.errors import BadgeChainError, IdentityError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keys import (
    PublicKey,
    did_key_document,
    did_key_from_public_key,
    did_web_url,
    read_did_document,
)
from badgechain.chain.multibase import multibase_decode, multibase_encode_b58
from badgechain.chain.resolve import BnsView, Resolvers, Unreachable
from badgechain.chain.statuslist import (
    STATUS_LIST_FETCHER,
    CheckedList,
    StatusListError,
    check_list_credential,
    list_proof_verifier,
)
from badgechain.chain.verify import Report, verify_badge

from .badgestore import credential_uid, load_badge
from .outbound import client_session

if TYPE_CHECKING:
    from .app import Node

__all__ = [
    "CALL_TIMEOUT_S",
    "HTTP_TIMEOUT_S",
    "MAX_BADGE_BYTES",
    "MAX_CACHED_LISTS",
    "MAX_DID_DOCUMENT_BYTES",
    "MAX_STATUS_LIST_BYTES",
    "STATUS_CACHE_DEFAULT",
    "FetchError",
    "NotPublished",
    "fetch_badge_by_uid",
    "verify_online",
]

MAX_DID_DOCUMENT_BYTES = 64 * 1024
MAX_BADGE_BYTES = 1024 * 1024  # a credential (or a baked image) served at a BNS location
MAX_STATUS_LIST_BYTES = 1024 * 1024  # a list credential (16 KiB of bits compress far below)
STATUS_CACHE_DEFAULT = timedelta(minutes=5)  # for a list that gives neither ttl nor validUntil
# Anyone can sign lists at URLs of their own, so the cache holds at most this many (oldest out).
MAX_CACHED_LISTS = 512
HTTP_TIMEOUT_S = 5.0
# One resolver call as the worker thread waits for it: a DHT lookup, or one fetch per URL.
CALL_TIMEOUT_S = 20.0
_T = TypeVar("_T")


class FetchError(BadgeChainError):
    """A server answered, but not with what was asked (status, size, or content)."""

    code = "fetch_failed"
    http_status = 502


class NotPublished(BadgeChainError):
    """The BNS knows the UID, but its earner published no place to fetch the badge."""

    code = "location_missing"
    http_status = 404


def _session(node: Node) -> aiohttp.ClientSession:
    # Bodies are read raw and bounded: no transparent decompression, so no gzip bomb.
    return client_session(
        node.config,
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
    try:
        async with session.get(url, allow_redirects=False, ssl=tls) as response:
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
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unreachable(f"{url:.120}: {type(exc).__name__} {exc}"[:300]) from exc
    return b"".join(chunks)


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


async def fetch_badge_by_uid(node: Node, uid: Uid) -> bytes:
    """The badge of `uid` as served at one of its BNS locations (the raw body).

    Raises NotFound (no BNS record), NotPublished (no location, or hidden), Unreachable
    (no location answered), or FetchError (they answered without this badge).
    """
    async with _session(node) as session:
        return await _fetch_badge(node, uid, session)


async def _fetch_badge(node: Node, uid: Uid, session: aiohttp.ClientSession) -> bytes:
    assert node.names is not None, "the node is not started"
    record = await node.names.resolve(uid)
    if record.location is None:
        raise NotPublished("the badge's earner has published no location for it")
    if not record.location.urls:
        raise NotPublished("the badge's earner has hidden it", code="badge_hidden")
    failures: list[BadgeChainError] = []
    for url in record.location.urls:
        try:
            body = await _get_bounded(session, url, MAX_BADGE_BYTES)
        except BadgeChainError as exc:
            failures.append(exc)
            continue
        if body is not None and _names_uid(_credential_of(body), uid):
            return body
        failures.append(
            FetchError(f"{url:.120} does not serve this badge", code="location_invalid")
        )
    detail = "; ".join(failure.message for failure in failures)
    if all(isinstance(failure, Unreachable) for failure in failures):
        raise Unreachable(
            f"no location of the badge answered: {detail}", code="location_unreachable"
        )
    raise FetchError(f"no location serves the badge: {detail}", code="location_invalid")


async def verify_online(
    node: Node,
    data: bytes,
    expected_uid: str | None = None,
    *,
    tls: ssl.SSLContext | bool = True,
) -> Report:
    """Verify `data` (JSON, VC-JWT, baked PNG or SVG) with every resolver this node has.

    `tls` is how did:web documents are fetched over HTTPS: True checks certificates against
    the system's roots; a context trusts what it was given (tests use their own CA).
    Status lists are fetched (or taken from this node's cache while fresh) and checked in
    full by chain.verify; see `_OnlineResolvers.status_list`.
    """
    now = node.clock()
    async with _session(node) as session:
        online = _OnlineResolvers(node, asyncio.get_running_loop(), session, tls)
        try:
            return await asyncio.to_thread(
                verify_badge, data, now=now, resolvers=online.resolvers(), expected_uid=expected_uid
            )
        finally:
            online.abandoned = True  # a thread still running past a timeout stops asking


class _OnlineResolvers:
    """The resolvers of one verification: sync callables for the worker thread, each answered
    by a coroutine run on the node's loop."""

    def __init__(
        self,
        node: Node,
        loop: asyncio.AbstractEventLoop,
        session: aiohttp.ClientSession,
        tls: ssl.SSLContext | bool,
    ) -> None:
        self.node = node
        self.loop = loop
        self.session = session
        self.tls = tls
        self.abandoned = False
        # did:web names of keys read from DID documents in this run (see `bns`).
        self.web_names: dict[PublicKey, str] = {}

    def resolvers(self) -> Resolvers:
        return Resolvers(
            did_documents=self.did_document,
            bns=self.bns,
            badges=self.badge,
            extra={STATUS_LIST_FETCHER: self.status_list},
        )

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run `coro` on the node's loop and wait for it from this worker thread."""
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

    def bns(self, uid: str) -> BnsView | None:
        return self._call(self._bns_view(uid))

    async def _bns_view(self, uid: str) -> BnsView | None:
        assert self.node.names is not None, "the node is not started"
        try:
            record = await self.node.names.resolve(Uid(multibase_decode(uid)))
        except NotFound:
            return None
        entry, location, revocation = record.entry, record.location, record.revocation
        # chain.verify compares the entry's issuer with the credential's issuer by name, and
        # a BNS entry holds a key: a did:web issuer whose document (read and checked in this
        # run) lists that key is the same issuer. Otherwise the key's own name, its did:key.
        issuer = self.web_names.get(entry.issuer_key) or did_key_from_public_key(entry.issuer_key)
        return BnsView(
            uid=multibase_encode_b58(entry.uid),
            issuer_did=issuer,
            earner=did_key_from_public_key(entry.earner_key) if entry.earner_key else None,
            revoked=revocation is not None,
            revocation_reason=revocation.reason if revocation else "",
            hidden=location is not None and not location.urls,
        )

    # -- status lists --------------------------------------------------------------------------

    def status_list(self, url: str) -> CheckedList | None:
        """The list at `url`, checked: from this node's cache while fresh, else fetched
        (bounded, no redirects) and cached once its proof, URL, freshness and length check
        out. chain.verify then checks it against the credential and its entry."""
        now = self.node.clock()
        cache = _status_cache(self.node)
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
        """A badge another one links to (urn:bns:UID): held here, or fetched from its location.

        Either way chain.verify verifies it in full, its UID included, before trusting it.
        """
        uid = Uid(multibase_decode(uid_text))
        assert self.node.store is not None, "the node is not started"
        held = load_badge(self.node.store, uid)
        if held is not None:
            return held
        try:
            body = await _fetch_badge(self.node, uid, self.session)
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
_status_caches: weakref.WeakKeyDictionary[Node, dict[str, _CachedList]] = (
    weakref.WeakKeyDictionary()
)


def _status_cache(node: Node) -> dict[str, _CachedList]:
    return _status_caches.setdefault(node, {})


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
