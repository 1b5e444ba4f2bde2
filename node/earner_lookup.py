"""Whose earner index an earner id names (issue 14 item 4; docs/bns.md "Earner lookup").

An earner index is kept by one key, the one that signs its items. A did:key is that key; a
persona, `urn:bns:<genesis UID>`, is its root key: the key that signed the genesis badge
about itself, read from the UID's BNS entry (the UID is that key's signature, so the entry
cannot lie about it); a did:web is the key its DID document lists, fetched over HTTPS under
the node's outbound rules and TLS settings (node/outbound.py), never with checks turned off.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from badgechain.bns.errors import NotFound
from badgechain.chain.badge import BNS_URN_PREFIX
from badgechain.chain.errors import BadgeChainError, DecodeError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keys import (
    PublicKey,
    did_web_url,
    public_key_from_did_key,
    read_did_document,
)
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.resolve import Unreachable
from badgechain.chain.uid import Uid

from .errors import NodeError
from .fetchers import MAX_DID_DOCUMENT_BYTES, FetchError, get_bounded, mapped_session
from .outbound import tls_context

if TYPE_CHECKING:
    from .services import Services

__all__ = [
    "DID_WEB_TTL_S",
    "MAX_EARNER_ID_CHARS",
    "EarnerLookupError",
    "IndexOwner",
    "earner_index_owner",
]

MAX_EARNER_ID_CHARS: Final = 256
# A did:web's key is read again after this long: a public route must not make one outbound
# fetch per request, and a document whose key changed is followed within a minute.
DID_WEB_TTL_S: Final = 60.0
MAX_CACHED_DID_WEBS: Final = 1024
# Per node (keyed by its NameService, gone with it): nodes in one process keep their own.
_DID_WEB_KEYS: Final[weakref.WeakKeyDictionary[object, dict[str, tuple[PublicKey, float]]]] = (
    weakref.WeakKeyDictionary()
)


class EarnerLookupError(NodeError):
    """An earner id that names no index key; `code` says why."""

    code = "earner_id_invalid"  # its codes' statuses: node/errors.py

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True, slots=True)
class IndexOwner:
    """The key whose index an earner id names, and how it was found."""

    key: PublicKey
    via: str  # "did:key", "persona" or "did:web"


async def earner_index_owner(node: Services, earner_id: str) -> IndexOwner:
    """The key that signs the index items of `earner_id` (did:key, urn:bns:, did:web)."""
    if len(earner_id) > MAX_EARNER_ID_CHARS:
        raise EarnerLookupError("an earner id is at most 256 characters", code="earner_id_invalid")
    if earner_id.startswith("did:key:"):  # a bad one: the multikey's own code
        return IndexOwner(public_key_from_did_key(earner_id), "did:key")
    if earner_id.startswith(BNS_URN_PREFIX):
        return IndexOwner(await _persona_key(node, earner_id), "persona")
    if earner_id.startswith("did:web:"):
        return IndexOwner(await _did_web_key(node, earner_id), "did:web")
    raise EarnerLookupError(
        "an earner is a did:key, a did:web or a persona (urn:bns:<UID>)", code="did_unsupported"
    )


def _persona_uid(earner_id: str) -> Uid:
    try:
        uid = multibase_decode(earner_id[len(BNS_URN_PREFIX) :])
    except DecodeError as exc:
        raise EarnerLookupError(f"{earner_id:.100} names no UID", code="earner_id_invalid") from exc
    if len(uid) != 64:
        raise EarnerLookupError(f"{earner_id:.100} names no UID", code="earner_id_invalid")
    return Uid(uid)


async def _persona_key(node: Services, earner_id: str) -> PublicKey:
    """The root key of a persona: its genesis badge is self-issued, so the entry's issuer
    key (verified: the UID is its signature) is its earner key too. A badge about anyone
    else is no persona. `Unreachable` goes through (503): the entry is never guessed."""
    try:
        record = await node.names.resolve(_persona_uid(earner_id))
    except NotFound as exc:
        raise EarnerLookupError(
            f"the BNS knows no badge {earner_id:.100}", code="earner_unknown"
        ) from exc
    entry = record.entry
    if entry.earner_key != entry.issuer_key:
        raise EarnerLookupError(
            f"{earner_id:.100} is a badge about another earner, not a persona",
            code="earner_not_persona",
        )
    return entry.issuer_key


async def _did_web_key(node: Services, did: str) -> PublicKey:
    keys = _DID_WEB_KEYS.setdefault(node.names, {})
    cached = keys.get(did)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    key = await _read_did_web_key(node, did)
    keys[did] = (key, time.monotonic() + DID_WEB_TTL_S)
    while len(keys) > MAX_CACHED_DID_WEBS:
        keys.pop(next(iter(keys)))
    return key


async def _read_did_web_key(node: Services, did: str) -> PublicKey:
    """The first Ed25519 key the DID document lists (under assertionMethod, as our nodes'
    documents do): a document is read once, no redirects, at most 64 KiB."""
    try:
        url = did_web_url(did)
    except BadgeChainError as exc:
        raise EarnerLookupError(exc.message, code="earner_id_invalid") from exc
    try:
        async with mapped_session(node.config, node.settings.fetch_timeout_s) as session:
            body = await get_bounded(session, url, MAX_DID_DOCUMENT_BYTES, tls_context(node.config))
    except (FetchError, Unreachable) as exc:
        raise EarnerLookupError(
            f"the DID document of {did:.100} could not be read: {exc.message}",
            code="earner_did_web_unreachable",
        ) from exc
    if body is None:
        raise EarnerLookupError(f"{url:.150} holds no DID document", code="earner_unknown")
    try:
        keys = read_did_document(parse_json(body, max_bytes=MAX_DID_DOCUMENT_BYTES), did)
    except BadgeChainError as exc:
        raise EarnerLookupError(exc.message, code="earner_did_document_invalid") from exc
    if not keys:
        raise EarnerLookupError(
            f"the DID document of {did:.100} lists no Ed25519 key",
            code="earner_did_document_invalid",
        )
    return next(iter(keys.values()))
