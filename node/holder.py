"""The holder's side of presentations (issue 14 items 1-2): staples for badges this node
holds, and presentations of them signed with the node's key.

A staple (chain/staple.py) is the issuer-signed status list(s) a badge names and its
latest BNS record, gathered now: the node's own lists from its store, another issuer's
over HTTP (bounded, under the node's outbound rules), the record from the DHT. What
cannot be had now is left out; a verifier then has less to go on, never something false.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from badgechain.bns.errors import NotFound
from badgechain.chain.badge import BNS_URN_PREFIX
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.holder import Binding, build_presentation, sign_presentation
from badgechain.chain.jsonio import parse_json
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.staple import MAX_STAPLED_LISTS, build_staple, credential_uid_text
from badgechain.chain.uid import Uid, uid_text

from .badgestore import load_badge, load_state
from .errors import NodeError
from .fetchers import get_bounded, mapped_session
from .resolvers import MAX_STATUS_LIST_BYTES
from .services import Services
from .states import BadgeState
from .status import served_list

__all__ = [
    "MAX_CACHED_STAPLES",
    "MAX_PRESENTED",
    "PresentationError",
    "present",
    "staple_for",
    "stapled_badge",
]

log = logging.getLogger(__name__)

MAX_PRESENTED: Final = 8  # badges in one presentation (their chains come along)
_STATUS_PATH: Final = "/status/"
_NOT_PRESENTABLE: Final = frozenset({BadgeState.INBOX, BadgeState.REJECTED})
MAX_CACHED_STAPLES: Final = 1024
# Staples served by GET /badges/{uid}/stapled, by (node DID, UID): (made at, staple).
_STAPLES: Final[dict[tuple[str, Uid], tuple[float, dict[str, Any]]]] = {}


class PresentationError(NodeError):
    """A presentation this node will not make; `code` says why."""

    code = "presentation_invalid"  # 400; badge_not_found 404, presentation_not_holder 422


# -- staples -----------------------------------------------------------------------------------


async def staple_for(node: Services, uid: Uid, credential: dict[str, Any]) -> dict[str, Any]:
    """The staple of a badge: its status lists and BNS record as they can be had now."""
    lists = await _status_lists(node, credential)
    record: bytes | None = None
    try:
        async with asyncio.timeout(node.settings.fetch_timeout_s):  # as one fetch
            record = (await node.names.resolve(uid)).to_wire_bytes()
    except (TimeoutError, NotFound, BadgeChainError) as exc:
        log.info("no BNS record to staple", extra={"uid": uid_text(uid), "why": str(exc)[:120]})
    return build_staple(uid_text(uid), lists, record)


def _list_urls(credential: dict[str, Any]) -> list[str]:
    status = credential.get("credentialStatus")
    entries = status if isinstance(status, list) else [] if status is None else [status]
    urls = [entry.get("statusListCredential") for entry in entries if isinstance(entry, dict)]
    found = [url for url in urls if isinstance(url, str)]
    return list(dict.fromkeys(found))[:MAX_STAPLED_LISTS]


async def _status_lists(node: Services, credential: dict[str, Any]) -> list[dict[str, Any]]:
    urls = _list_urls(credential)
    own = node.gateway_url + _STATUS_PATH
    found: list[dict[str, Any]] = []
    async with mapped_session(node.config, node.settings.fetch_timeout_s) as session:
        for url in urls:
            try:
                if url.startswith(own):
                    found.append(served_list(node, url[len(own) :]))
                    continue
                body = await get_bounded(session, url, MAX_STATUS_LIST_BYTES)
                document = None if body is None else parse_json(body)
            except BadgeChainError as exc:  # unreachable, refused, not JSON: not stapled
                log.info("status list not stapled", extra={"url": url[:200], "why": exc.code})
                continue
            if isinstance(document, dict):
                found.append(document)
    return found


async def stapled_badge(node: Services, uid: Uid, credential: dict[str, Any]) -> dict[str, Any]:
    """A single badge for download with its staple (docs/presentations.md). Anyone may ask,
    so a staple made in the last `NodeSettings.staple_reuse_s` is served again rather than
    costing a DHT lookup and a fetch per request."""
    now = node.clock().timestamp()
    made, staple = _STAPLES.get((node.did, uid), (0.0, None))
    if staple is None or now - made > node.settings.staple_reuse_s:
        staple = await staple_for(node, uid, credential)
        while len(_STAPLES) >= MAX_CACHED_STAPLES:
            _STAPLES.pop(next(iter(_STAPLES)))
        _STAPLES[(node.did, uid)] = (now, staple)
    return {"type": "StapledCredential", "verifiableCredential": credential, "staple": staple}


# -- presentations -----------------------------------------------------------------------------


def _held(node: Services, uid: Uid) -> dict[str, Any]:
    credential = load_badge(node.store, uid)
    state = (load_state(node.store, uid) or {}).get("state")
    if credential is None or state in _NOT_PRESENTABLE:
        raise PresentationError(
            f"this node holds no badge {uid_text(uid)[:16]}… to present", code="badge_not_found"
        )
    return credential


def _chain_of(node: Services, credential: dict[str, Any]) -> list[dict[str, Any]]:
    """The badges from `credential` to the node's key: itself, then each persona it is
    issued to (urn:bns:), which this node must hold; PresentationError when it does not
    lead to the node's key (someone else's badge)."""
    chain = [credential]
    for _ in range(8):
        subject = _subject_id(chain[-1])
        if subject == node.did:
            return chain
        if subject is None or not subject.startswith(BNS_URN_PREFIX):
            break
        try:
            linked = load_badge(node.store, Uid(multibase_decode(subject[len(BNS_URN_PREFIX) :])))
        except BadgeChainError:
            linked = None
        if linked is None:
            break
        chain.append(linked)
    raise PresentationError(
        "the badge is not about this node's key or one of its personas",
        code="presentation_not_holder",
    )


def _subject_id(credential: dict[str, Any]) -> str | None:
    subject = credential.get("credentialSubject")
    subject = subject[0] if isinstance(subject, list) and len(subject) == 1 else subject
    value = subject.get("id") if isinstance(subject, dict) else None
    return value if isinstance(value, str) else None


async def present(
    node: Services, uids: list[Uid], binding: Binding, *, staple: bool = True
) -> dict[str, Any]:
    """A presentation of the badges `uids` (with the personas they are issued to), signed by
    the node's key for the verifier's `binding`, each badge with its staple."""
    if not 0 < len(uids) <= MAX_PRESENTED:
        raise PresentationError(f"present 1 to {MAX_PRESENTED} badges", code="uids_invalid")
    credentials: dict[str, dict[str, Any]] = {}
    for uid in uids:
        for item in _chain_of(node, _held(node, uid)):
            credentials.setdefault(credential_uid_text(item) or "", item)
    staples = []
    if staple:
        for text, credential in credentials.items():
            staples.append(await staple_for(node, Uid(multibase_decode(text)), credential))
    unsigned = build_presentation(node.did, list(credentials.values()), staples)
    return await asyncio.to_thread(
        sign_presentation, unsigned, node.key, binding, created=node.clock()
    )
