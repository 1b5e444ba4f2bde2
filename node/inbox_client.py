"""Finding an earner's inbox and posting a badge to it: what one delivery attempt does.

node/delivery.py keeps the outbox and schedules the attempts on the work queue; this module
says what "delivered", "later" and "refused for good" mean on the wire.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections import OrderedDict
from typing import Any, Final

import aiohttp

from badgechain.bns.inbox import InboxRecord
from badgechain.bns.inbox_records import InboxRecords
from badgechain.chain.credential import CredentialView
from badgechain.chain.errors import BadgeChainError, IdentityError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keys import PublicKey, public_key_from_did_key

from .config import MAX_JSON_BYTES, NodeConfig
from .errors import NodeError
from .outbound import client_session, shown_url, why_unreachable

__all__ = [
    "DEFAULT_POST_TIMEOUT_S",
    "MAX_INBOX_BYTES",
    "DeliveryError",
    "DeliveryRefused",
    "credential_bytes",
    "earner_key_of",
    "find_inbox",
    "find_inbox_cached",
    "forget_inbox",
    "post_credential",
]

MAX_INBOX_BYTES: Final = MAX_JSON_BYTES  # what an inbox takes; a badge with its image fits
DEFAULT_POST_TIMEOUT_S: Final = 10.0  # NodeSettings.delivery_post_timeout_s
_MAX_ANSWER_BYTES: Final = 64 * 1024
# 408, 425 and 429 say "later", not "no". Any other 4xx is final only when it is a definite
# refusal: a problem report with a code (a 4xx with no code may be a proxy or a server in the
# way), and not a verifier's internal error (older nodes answered those with 422).
_RETRY_STATUSES: Final = frozenset({408, 425, 429})
_RETRY_CODES: Final = frozenset({"internal_error", "verifier_unavailable"})
# How long deliveries trust an inbox found for an earner: a batch to one earner looks it up
# once, not once a badge. A failed post forgets it (the earner may have moved).
INBOX_TTL_S: Final = 30.0
_MAX_INBOXES: Final = 1024  # earners whose inbox each node keeps (the oldest go)
_Found = tuple[float, "asyncio.Future[InboxRecord]"]  # (until, the lookup)
_INBOXES: weakref.WeakKeyDictionary[InboxRecords, OrderedDict[PublicKey, _Found]] = (
    weakref.WeakKeyDictionary()
)


class DeliveryError(NodeError):
    """A delivery failed in a way worth retrying: no inbox known yet, no answer, 5xx."""

    code = "delivery_failed"


class DeliveryRefused(DeliveryError):
    """The earner's inbox refused the badge for good (a 4xx with the reason's code):
    sending the same badge again cannot help."""

    code = "delivery_refused"


def earner_key_of(credential: dict[str, Any]) -> PublicKey | None:
    """The did:key of the credential's subject; None when the subject is a badge (urn:bns:)
    or only an email address: then no node can be asked to take it."""
    subject_id = CredentialView(credential).subject_id
    if subject_id is None or not subject_id.startswith("did:key:"):
        return None
    try:
        return public_key_from_did_key(subject_id)
    except IdentityError:
        return None


async def find_inbox(inboxes: InboxRecords, earner_key: PublicKey) -> InboxRecord:
    """The earner's inbox announcement, as the DHT merges it (every answer validated)."""
    record = await inboxes.find(earner_key)
    if record is None:
        raise DeliveryError("the earner's node has announced no inbox", code="inbox_unknown")
    if record.public_key != earner_key:
        raise DeliveryError("the DHT answered another key's inbox", code="inbox_unknown")
    return record


async def find_inbox_cached(
    inboxes: InboxRecords, earner_key: PublicKey, *, now: float | None = None
) -> InboxRecord:
    """`find_inbox`, answered again for `INBOX_TTL_S` (deliveries at the same moment share one
    lookup); a lookup that failed is not kept."""
    at = time.monotonic() if now is None else now
    known = _INBOXES.setdefault(inboxes, OrderedDict())
    found = known.get(earner_key)
    if found is None or at >= found[0]:
        lookup = asyncio.ensure_future(find_inbox(inboxes, earner_key))
        lookup.add_done_callback(_retrieved)  # its waiters may all have gone (a stop)
        found = (at + INBOX_TTL_S, lookup)
        known[earner_key] = found
        known.move_to_end(earner_key)
        while len(known) > _MAX_INBOXES:
            known.popitem(last=False)
    try:
        return await asyncio.shield(found[1])
    except BaseException:
        if known.get(earner_key) is found and found[1].done():
            del known[earner_key]  # failed (not just this caller cancelled): ask again next time
        raise


def _retrieved(lookup: asyncio.Future[InboxRecord]) -> None:
    if not lookup.cancelled():
        lookup.exception()


def forget_inbox(inboxes: InboxRecords, earner_key: PublicKey) -> None:
    """Look the earner's inbox up again next time (a post to it failed)."""
    _INBOXES.get(inboxes, OrderedDict()).pop(earner_key, None)


def credential_bytes(credential: dict[str, Any]) -> bytes:
    body = json.dumps(credential, ensure_ascii=False).encode()
    if len(body) > MAX_INBOX_BYTES:
        raise DeliveryRefused(
            f"the badge is over the {MAX_INBOX_BYTES} bytes an inbox takes", code="body_too_large"
        )
    return body


async def post_credential(
    config: NodeConfig,
    url: str,
    credential: dict[str, Any],
    *,
    timeout_s: float = DEFAULT_POST_TIMEOUT_S,
) -> None:
    """POST the credential to an inbox; raise DeliveryRefused on a definite refusal,
    DeliveryError on anything else that is not a 2xx (5xx, no answer, a 4xx that says
    "later"). Redirects are not followed: the URL was signed."""
    body = credential_bytes(credential)
    headers = {"Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with (
            client_session(config, timeout=timeout) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as answer,
        ):
            status = answer.status
            detail = await answer.content.read(_MAX_ANSWER_BYTES)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise DeliveryError(
            f"no answer from {shown_url(url)}: {why_unreachable(exc)}", code="inbox_unreachable"
        ) from exc
    if 200 <= status < 300:
        return
    code = _problem_code(detail)
    if code is not None and _is_refusal(status, code):
        raise DeliveryRefused(f"{shown_url(url)} refused the badge: {status} {code}", code=code)
    raise DeliveryError(f"{shown_url(url)} answered {status} {code or ''}", code="inbox_failed")


def _is_refusal(status: int, code: str) -> bool:
    """A definite "no" from the earner's node, as opposed to "not now"."""
    return 400 <= status < 500 and status not in _RETRY_STATUSES and code not in _RETRY_CODES


def _problem_code(detail: bytes) -> str | None:
    """The `code` of a problem report answer; None when the answer is not one."""
    try:
        problem = parse_json(detail)
    except BadgeChainError:
        return None
    code = problem.get("code") if isinstance(problem, dict) else None
    return code[:64] if isinstance(code, str) and code else None
