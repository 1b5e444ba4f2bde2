"""What follows a claim mail (docs/claims.md): the issuer's location for an email-only badge
until it is claimed, and a fresh code when the first one expired or was lost.

Location: issuing writes, with the claim, a queued `claim-location` item (node/work.py). Its
handler waits until the badge's entry is out (a batch publishes its rows in bulk, after
they are stored), then writes the issuer's gateway as the location unless the BNS already
holds one or a hand-over. So a batch's email badges get it as single issues do, and a home
whose claims lack it (written before) gets it on start (`queue_open_claims`).

Resend: the claim also keeps (journal `claim-mail/<UID>`) the address and badge name, the
only copy once the mail is sent (the badge holds the address hashed). A resend writes a new
code over the claim and queues its mail, atomically; at most `MAX_RESENDS` a day per badge,
whoever asks: the earner's node (`POST /claims/{uid}/resend`, public, for
`badgechain claim UID --resend`) or the issuer (`badgechain mail resend UID`). The mail
goes only to the address the badge was issued to, so a caller cannot redirect it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp

from badgechain.bns.errors import RecordError
from badgechain.chain.uid import Uid, uid_text
from badgechain.storage import Kind

from . import claims, earner, mail, pipeline
from .outbound import client_session, shown_url, why_unreachable
from .pipeline import Op
from .records import ClaimAddress
from .services import Services

__all__ = [
    "ADDRESS_PREFIX",
    "LOCATED_PREFIX",
    "LOCATION_TOPIC",
    "MAX_RESENDS",
    "RESEND_WINDOW_S",
    "ask_resend",
    "claim_mail_writes",
    "publish_location",
    "queue_open_claims",
    "resend",
]

log = logging.getLogger(__name__)

LOCATION_TOPIC: Final = "claim-location"
ADDRESS_PREFIX: Final = b"claim-mail/"
LOCATED_PREFIX: Final = b"claim-located/"  # + UID: the location is out; no need to look again
MAX_RESENDS: Final = 3  # new codes per badge per window, then `claim_resend_rate_limited`
RESEND_WINDOW_S: Final = 24 * 3600
_MAX_ANSWER_BYTES: Final = 64 * 1024


# The stable codes of a resend (their statuses: node/errors.py); an issuer's refusal naming
# one is passed on as it is, any other as claim_issuer_failed.
_RESEND_CODES: Final = frozenset(
    {
        "claim_not_found",
        "claim_already_claimed",
        "claim_address_unknown",
        "claim_resend_rate_limited",
        "claim_issuer_unknown",
        "claim_issuer_unreachable",
        "claim_issuer_failed",
    }
)


def _error(message: str, code: str, retry_after_s: int | None = None) -> claims.ClaimError:
    error = claims.ClaimError(message, code=code)  # its status: node/errors.py
    error.retry_after_s = retry_after_s
    return error


def claim_mail_writes(node: Services, uid: Uid, to: str, badge_name: str) -> list[Op]:
    """For the batch that stores an email-only badge with its claim: the address kept for a
    resend, and the issuer's location queued (published once the entry is out)."""
    node.enqueue(LOCATION_TOPIC, uid, delay_s=node.settings.queue_retry_first_s)
    kept = ClaimAddress(to=to, name=badge_name, resent=())
    return [(Kind.JOURNAL, ADDRESS_PREFIX + uid, kept.to_bytes())]


def _open_claim(node: Services, uid: Uid) -> bool:
    """Whether `uid` has a claim whose code is unspent."""
    return claims.is_open(node.store.get(Kind.JOURNAL, claims.CLAIM_PREFIX + uid))


# --- the issuer's location until the claim ---------------------------------------------------


async def publish_location(node: Services, key: bytes) -> bool:
    """The `claim-location` topic's handler: False (retried) while the entry is not out."""
    uid = Uid(key)
    if not _open_claim(node, uid):
        return True  # claimed (the earner writes it) or no claim
    if node.store.get(Kind.JOURNAL, pipeline.UNPUBLISHED_PREFIX + uid) is not None:
        return False  # the entry first: its publish item (or its batch) puts it out
    record = await node.names.resolve(uid)
    if record.handover is None and record.location is None:
        try:
            await node.names.set_location(node.key, uid, [earner.badge_url(node, uid)])
        except RecordError as exc:
            if exc.code != "not_location_writer":  # handed over meanwhile: nothing to write
                raise
    node.store.put(Kind.JOURNAL, LOCATED_PREFIX + uid, b"")
    return True


def queue_open_claims(node: Services) -> int:
    """On start: queue the location of every unclaimed badge not known to have one (a home
    written before this module's topic holds claims without it). Returns how many."""
    store, now, found = node.store, node.clock().timestamp(), 0
    for key, raw in store.scan(Kind.JOURNAL, claims.CLAIM_PREFIX):
        uid = key[len(claims.CLAIM_PREFIX) :]
        if not claims.is_open(raw):
            continue
        if store.get(Kind.JOURNAL, LOCATED_PREFIX + uid) is None:
            node.queue.put(LOCATION_TOPIC, uid, now)
            found += 1
    return found


# --- a new code -----------------------------------------------------------------------------


def resend(node: Services, uid: Uid) -> dict[str, Any]:
    """The issuer's side: a new code for the unclaimed badge `uid`, mailed to its address;
    the old code stops working. No await: two resends at once cannot both pass the limit."""
    if not _open_claim(node, uid):
        held = node.store.get(Kind.JOURNAL, claims.CLAIM_PREFIX + uid) is not None
        if held:
            raise _error("the badge has been claimed", "claim_already_claimed")
        raise _error("no claim is open for this badge", "claim_not_found")
    raw = node.store.get(Kind.JOURNAL, ADDRESS_PREFIX + uid)
    if raw is None:
        raise _error(
            "this node did not keep the badge's address (issued before resends)",
            "claim_address_unknown",
        )
    kept, now = ClaimAddress.from_bytes(raw), node.clock().timestamp()
    recent = [at for at in kept.resent or () if at > now - RESEND_WINDOW_S]
    if len(recent) >= MAX_RESENDS:
        wait = max(1, int(recent[0] + RESEND_WINDOW_S - now) + 1)
        raise _error(
            f"{MAX_RESENDS} new codes in {RESEND_WINDOW_S // 3600} hours; try later",
            "claim_resend_rate_limited",
            wait,
        )
    if kept.to is None:
        raise _error("the badge's kept address does not read", "claim_address_unknown")
    writes = claims.claim_writes(node, uid, kept.to, kept.name or "", now, claims.new_code())
    kept = kept.with_members(resent=[*recent, now])
    with node.store.batch() as batch:
        for kind, key, value in writes:
            batch.put(kind, key, value)
        batch.put(Kind.JOURNAL, ADDRESS_PREFIX + uid, kept.to_bytes())
    _revive_mail(node, uid, now)
    expires = datetime.fromtimestamp(now + claims.CODE_TTL_S, UTC)
    return {"uid": uid_text(uid), "expires": expires.isoformat(timespec="seconds")}


def _revive_mail(node: Services, uid: Uid, now: float) -> None:
    """A mail item the queue gave up on (SMTP down for long) tries again with the new code."""
    item = node.queue.get(mail.MAIL_TOPIC, uid)
    if item is not None and item.dead:
        node.queue.retry(item, now)
        node.wake.set()


async def ask_resend(node: Services, uid: Uid, issuer_url: str | None) -> dict[str, Any]:
    """The earner's side: ask the issuer's node to mail a new code (to the address the badge
    was issued to). Without `issuer_url`, the origin of the location its issuer wrote."""
    if issuer_url is None:
        issuer_url = await claims._issuer_origin(node, uid)  # the claim's own lookup
    url = f"{issuer_url.rstrip('/')}/claims/{uid_text(uid)}/resend"
    timeout = aiohttp.ClientTimeout(total=node.settings.claim_timeout_s)
    try:
        async with (
            client_session(node.config, timeout=timeout) as session,
            session.post(url, json={}, allow_redirects=False) as answer,
        ):
            status, retry_after = answer.status, answer.headers.get("Retry-After", "")
            data = await answer.content.read(_MAX_ANSWER_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise _error(
            f"no answer from {shown_url(url)}: {why_unreachable(exc)}", "claim_issuer_unreachable"
        ) from exc
    return _answer(url, status, retry_after, data)


def _answer(url: str, status: int, retry_after: str, data: bytes) -> dict[str, Any]:
    """The issuer's answer to a resend, or its refusal under its own code when known."""
    try:
        answer = json.loads(data) if len(data) <= _MAX_ANSWER_BYTES else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise _error(f"{url:.100} answered {status} without JSON", "claim_issuer_failed")
    if status != 200:
        code = answer.get("code")
        known = code if isinstance(code, str) and code in _RESEND_CODES else "claim_issuer_failed"
        wait = int(retry_after) if retry_after.isdigit() else None
        raise _error(f"the issuer refused: {str(answer.get('detail', ''))[:200]}", known, wait)
    expires = answer.get("expires")
    return {"uid": str(answer.get("uid", ""))[:200], "expires": str(expires)[:40]}
