"""Online verification: chain.verify with real resolvers (the BNS over the DHT, did:web over
HTTPS, linked badges fetched from their BNS locations).

chain.verify is synchronous and pure, so it runs in a worker thread; each resolver call it
makes hops back onto the event loop and waits there, bounded, for its answer.

The same resolvers serve a running node (its DHT and store) and the CLI without one
(`VerifierContext`: the BNS asked through a gateway, or not at all): one policy for both.
Where the BNS is asked lives in node/bns_access.py; fetching over HTTP in node/fetchers.py
(their public names are importable from here too).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar, overload

import aiohttp

from badgechain.bns.errors import NotFound
from badgechain.bns.staple_reader import record_staple_extra
from badgechain.chain.errors import BadgeChainError, IdentityError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keys import (
    PublicKey,
    did_key_document,
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
from badgechain.chain.uid import Uid
from badgechain.chain.verify import Report, verify_badge

from .bns_access import (
    MAX_GATEWAY_ANSWER_BYTES,
    BnsAccess,
    BnsAnswer,
    GatewayBns,
    NodeBns,
    bns_view_of,
)
from .config import NodeConfig
from .fetchers import (
    MAX_BADGE_BYTES,
    MAX_DID_DOCUMENT_BYTES,
    MAX_DOCUMENT_BYTES,
    MAX_DOCUMENT_REDIRECTS,
    MAX_STATUS_LIST_BYTES,
    FetchError,
    NotPublished,
    credential_of,
    fetch_badge,
    fetch_badge_by_uid,
    get,
    get_bounded,
    mapped_session,
)
from .outbound import tls_context
from .services import NodeSettings, Services
from .status_list_cache import (
    MAX_CACHED_LISTS,
    CachedList,
    fresh_list,
    fresh_until,
    keep_list,
    list_document,
)
from .verifier_context import VerifierContext, node_context

log = logging.getLogger(__name__)

__all__ = [
    "MAX_BADGE_BYTES",
    "MAX_CACHED_LISTS",
    "MAX_DID_DOCUMENT_BYTES",
    "MAX_DOCUMENT_BYTES",
    "MAX_GATEWAY_ANSWER_BYTES",
    "MAX_STATUS_LIST_BYTES",
    "BnsAccess",
    "BnsAnswer",
    "CachedList",
    "FetchError",
    "GatewayBns",
    "NodeBns",
    "NotPublished",
    "VerifierContext",
    "VerifyRun",
    "bns_view_of",
    "fetch_badge_by_uid",
    "node_context",
    "verify_online",
    "verify_with",
]

_T = TypeVar("_T")
# Runs chain.verify (data, now, resolvers, expected UID, recipient) elsewhere than in a
# thread of this process: node/verifypool.py's worker processes.
VerifyRun = Callable[[bytes, datetime, Resolvers, str | None, str | None], Awaitable[Report]]


def _mapped_session(
    config: NodeConfig, settings: NodeSettings | None = None
) -> aiohttp.ClientSession:
    """The session `verify_with` opens (for tests that drive the resolvers themselves)."""
    return mapped_session(config, (settings or NodeSettings()).fetch_timeout_s)


async def verify_online(
    node: Services,
    data: bytes,
    expected_uid: str | None = None,
    *,
    tls: ssl.SSLContext | bool | None = None,
    recipient: str | None = None,
) -> Report:
    """Verify `data` (JSON, VC-JWT, baked PNG or SVG) with every resolver this node has.

    Status lists are fetched (or taken from this node's cache while fresh) and checked in
    full by chain.verify; see `_OnlineResolvers.status_list`.
    """
    return await verify_with(node_context(node, tls), data, expected_uid, recipient=recipient)


@overload
async def verify_with(
    context: VerifierContext,
    data: bytes,
    expected_uid: str | None = None,
    *,
    recipient: str | None = None,
    run: None = None,
) -> Report: ...


@overload
async def verify_with(
    context: VerifierContext,
    data: bytes,
    expected_uid: str | None = None,
    *,
    recipient: str | None = None,
    run: Callable[[bytes, datetime, Resolvers, str | None, str | None], Awaitable[_T]],
) -> _T: ...


async def verify_with(
    context: VerifierContext,
    data: bytes,
    expected_uid: str | None = None,
    *,
    recipient: str | None = None,
    run: Callable[[bytes, datetime, Resolvers, str | None, str | None], Awaitable[Any]]
    | None = None,
) -> Any:
    """Verify `data` with the resolvers `context` gives (the node's, or the CLI's).
    `recipient`: the identity (an email) an OB 2.0 badge must be for, when one is named.
    `run` runs chain.verify elsewhere (node/verifypool.py; its outcome is returned, e.g. the
    report's JSON); by default, in a thread here."""
    now = context.clock()
    online = _OnlineResolvers(context, asyncio.get_running_loop())
    try:
        if run is not None:
            return await run(data, now, online.resolvers(), expected_uid, recipient)
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
        await online.close()


class _OnlineResolvers:
    """The resolvers of one verification: sync callables for the worker thread, each answered
    by a coroutine run on the event loop. The HTTP session is opened by the first call that
    fetches (one answered from the caches here fetches nothing), unless one is given."""

    def __init__(
        self,
        context: VerifierContext,
        loop: asyncio.AbstractEventLoop,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.context = context
        self.loop = loop
        self._session = session
        self._opened_here = False
        self.tls = tls_context(context.config) if context.tls is None else context.tls
        self.abandoned = False
        # did:web names of keys read from DID documents in this run (see `bns`).
        self.web_names: dict[PublicKey, str] = {}

    async def session(self) -> aiohttp.ClientSession:
        """The session to fetch with (on the event loop), opened on first use."""
        if self.abandoned:  # closed, or about to be: a late call opens nothing to leak
            raise Unreachable("the verification was abandoned")
        if self._session is None:
            self._session = _mapped_session(self.context.config, self.context.settings)
            self._opened_here = True
        return self._session

    async def close(self) -> None:
        """Close the session if this verification opened one."""
        if self._opened_here and self._session is not None:
            await self._session.close()

    def resolvers(self) -> Resolvers:
        extra = {STATUS_LIST_FETCHER: self.status_list, **record_staple_extra()}
        bns = self.context.bns
        if bns is None:  # the CLI offline: no BNS to ask
            return Resolvers(
                did_documents=self.did_document,
                documents=self.document,
                trust=self.context.trust,
                extra=extra,
            )
        return Resolvers(
            bns=functools.partial(self.bns, bns),
            did_documents=self.did_document,
            documents=self.document,
            bns_publishes=functools.partial(self.issuer_publishes, bns),
            badges=functools.partial(self.badge, bns),
            trust=self.context.trust,
            extra=extra,
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
        wait_s = self.context.settings.resolver_call_timeout_s
        try:
            return future.result(wait_s)
        except TimeoutError as exc:
            future.cancel()
            raise Unreachable(f"no answer within {wait_s:.0f} s") from exc
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
            got = self._call(self._get_document(url))
        except FetchError as exc:
            raise Unreachable(exc.message, code=exc.code) from exc
        if got is None:
            return None
        body, media, final = got
        return Fetched(url=url, final_url=final, content_type=media, body=body)

    async def _get_document(self, url: str) -> tuple[bytes, str, str] | None:
        session = await self.session()
        return await get(
            session, url, MAX_DOCUMENT_BYTES, self.tls, redirects=MAX_DOCUMENT_REDIRECTS
        )

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
        session = await self.session()
        body = await get_bounded(session, did_web_url(did), MAX_DID_DOCUMENT_BYTES, self.tls)
        if body is None:
            return None
        document = parse_json(body, max_bytes=MAX_DID_DOCUMENT_BYTES)
        if not isinstance(document, dict):
            raise IdentityError(
                f"the DID document of {did:.100} is not a JSON object", code="did_document_invalid"
            )
        return document

    # -- the BNS -------------------------------------------------------------------------------

    def bns(self, bns: BnsAccess, uid: str) -> BnsView | None:
        return self._call(self._bns_view(bns, uid))

    async def _bns_view(self, bns: BnsAccess, uid: str) -> BnsView | None:
        try:
            answer = await bns.resolve(Uid(multibase_decode(uid)))
        except NotFound:
            return None
        return bns_view_of(answer, uid, self.web_names)

    def issuer_publishes(self, bns: BnsAccess, signer_did: str) -> bool:
        return self._call(bns.issuer_publishes(public_key_from_did_key(signer_did)))

    # -- status lists --------------------------------------------------------------------------

    def status_list(self, url: str) -> CheckedList | None:
        """The list at `url`, checked: from the cache while fresh, else fetched (bounded, no
        redirects) and cached once its proof, URL, freshness and length check out.
        chain.verify then checks it against the credential and its entry."""
        now = self.context.clock()
        cache = self.context.status_cache
        cached = fresh_list(cache, url, now)
        if cached is not None:
            return cached
        if not url.startswith(("https://", "http://")):
            raise StatusListError(f"cannot fetch a status list from {url:.100}")
        try:
            body = self._call(self._get_list(url))
        except FetchError as exc:
            if exc.code == "fetch_too_large":
                raise StatusListError(exc.message, code="status_list_too_large") from exc
            raise Unreachable(exc.message, code="status_list_unavailable") from exc
        if body is None:
            return None
        document = list_document(body)
        verify = list_proof_verifier(self.did_document)
        checked = check_list_credential(document, list_url=url, now=now, verify_list_proof=verify)
        default = timedelta(seconds=self.context.settings.status_cache_default_s)
        keep_list(cache, url, CachedList(checked, fresh_until(document, now, default)))
        return checked

    async def _get_list(self, url: str) -> bytes | None:
        return await get_bounded(await self.session(), url, MAX_STATUS_LIST_BYTES, self.tls)

    # -- linked badges -------------------------------------------------------------------------

    def badge(self, bns: BnsAccess, uid: str) -> dict[str, Any] | None:
        return self._call(self._linked_badge(bns, uid))

    async def _linked_badge(self, bns: BnsAccess, uid_text: str) -> dict[str, Any] | None:
        """A badge another one links to (urn:bns:UID): held at hand, or fetched from its
        location. Either way chain.verify verifies it in full, its UID included."""
        uid = Uid(multibase_decode(uid_text))
        held = await bns.held_badge(uid)
        if held is not None:
            return held
        try:
            body = await fetch_badge(bns, uid, await self.session())
        except NotFound:
            return None
        except (NotPublished, FetchError) as exc:  # it exists; it cannot be checked now
            raise Unreachable(f"linked badge not available: {exc.message}", code=exc.code) from exc
        return credential_of(body)
