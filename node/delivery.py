"""Badges on their way to their earners' inboxes, and this node's own inbox announcement.

An issuer knows the earner's did:key; the earner's node announces in the DHT, signed by
that key, the URL of its inbox (bns/inbox.py). A delivery is written to a durable outbox
first, then POSTed; what fails is retried with backoff from `run_outbox`, across restarts.

Outbox keys (Kind.JOURNAL): b"outbox/meta/" + UID → the schedule as JSON (small, scanned
every tick); b"outbox/doc/" + UID → the credential JSON. Both change in one batch.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

import aiohttp

from badgechain.bns.dht import DhtNode
from badgechain.bns.errors import RecordError
from badgechain.bns.inbox import InboxRecord, inbox_key, make_inbox_record
from badgechain.bns.values import address_of_key
from badgechain.chain.credential import CredentialView
from badgechain.chain.errors import BadgeChainError, IdentityError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keys import PublicKey, public_key_from_did_key
from badgechain.chain.uid import Uid
from badgechain.storage import Kind, Store

from .config import MAX_JSON_BYTES, NodeConfig
from .errors import NodeError
from .outbound import client_session
from .services import Services

__all__ = [
    "INBOX_PATH",
    "MAX_INBOX_BYTES",
    "OUTBOX_PREFIX",
    "DeliveryError",
    "DeliveryRefused",
    "DeliveryStatus",
    "OutboxEntry",
    "announce_inbox",
    "deliver_due",
    "earner_key_of",
    "enqueue_delivery",
    "find_inbox",
    "outbox",
    "post_credential",
    "run_outbox",
    "start_delivery",
]

log = logging.getLogger(__name__)

INBOX_PATH: Final = "/inbox"
MAX_INBOX_BYTES: Final = MAX_JSON_BYTES  # what an inbox takes; a badge with its image fits
OUTBOX_PREFIX: Final = b"outbox/"
_META: Final = OUTBOX_PREFIX + b"meta/"
_DOC: Final = OUTBOX_PREFIX + b"doc/"
_INBOX_SEQ: Final = b"inbox/seq"  # the last seq this node signed for its announcement

POST_TIMEOUT_S: Final = 10.0
ANNOUNCE_RETRY_MAX_S: Final = 60.0
OUTBOX_BATCH: Final = 64  # deliveries started per tick
OUTBOX_PARALLEL: Final = 8  # deliveries in flight at once
_MAX_ANSWER_BYTES: Final = 64 * 1024
# 408, 425 and 429 say "later", not "no". Any other 4xx is final only when it is a definite
# refusal: a problem report with a code (a 4xx with no code may be a proxy or a server in the
# way), and not a verifier's internal error (older nodes answered those with 422).
_RETRY_STATUSES: Final = frozenset({408, 425, 429})
_RETRY_CODES: Final = frozenset({"internal_error", "verifier_unavailable"})

DeliveryStatus = Literal["delivered", "queued", "no_inbox", "refused"]


class DeliveryError(NodeError):
    """A delivery failed in a way worth retrying: no inbox known yet, no answer, 5xx."""

    code = "delivery_failed"


class DeliveryRefused(DeliveryError):
    """The earner's inbox refused the badge for good (a 4xx with the reason's code):
    sending the same badge again cannot help."""

    code = "delivery_refused"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One pending delivery. `due` is the Unix time of the next attempt; None once refused."""

    uid: Uid
    due: float | None
    attempts: int = 0
    error: str = ""
    # Whose inbox, when the subject names no did:key (a persona or an endorsed badge).
    earner_key: PublicKey | None = None

    def to_json_bytes(self) -> bytes:
        earner = None if self.earner_key is None else self.earner_key.hex()
        return json.dumps(
            {"due": self.due, "attempts": self.attempts, "error": self.error, "earner": earner}
        ).encode()

    @classmethod
    def from_json_bytes(cls, uid: Uid, data: bytes) -> OutboxEntry:
        value = json.loads(data)
        earner = value.get("earner")
        earner_key = None if earner is None else PublicKey(bytes.fromhex(earner))
        return cls(uid, value["due"], int(value["attempts"]), str(value["error"]), earner_key)


def _backoff(node: Services, attempts: int) -> float:
    settings = node.settings
    first, most = settings.delivery_retry_first_s, settings.delivery_retry_max_s
    return float(min(most, first * 2 ** min(attempts - 1, 30)))


def _now(node: Services) -> float:
    return node.clock().timestamp()


def _lease_s(node: Services) -> float:
    """How far a delivery under way pushes its next attempt: past the attempt's end, so
    the outbox loop never sends a badge that the issuing request is still sending."""
    return node.settings.delivery_attempt_timeout_s + 5.0


# --- this node's inbox ------------------------------------------------------------------------


async def announce_inbox(node: Services) -> InboxRecord:
    """Sign and publish where this node's inbox is; the DHT's writer republishing keeps it.

    The seq is above both what this node signed before and what the network holds, so a
    home restored without its database still replaces its old announcement.
    """
    store, dht = node.store, node.dht
    signed_seq = int.from_bytes(store.get(Kind.JOURNAL, _INBOX_SEQ) or bytes(8), "big")
    held = await _held_announcement(dht, node.key.public_key)
    seq = max(signed_seq, held.seq if held else 0) + 1
    record = make_inbox_record(node.key, node.gateway_url + INBOX_PATH, seq)
    store.put(Kind.JOURNAL, _INBOX_SEQ, seq.to_bytes(8, "big"))
    result = await dht.publish(record.to_wire_bytes())
    if result.accepted == 0:
        raise RecordError(
            f"every replica refused the inbox announcement: {result.refused}",
            code="inbox_refused",
        )
    log.info("inbox announced", extra={"url": record.url, "seq": seq})
    return record


async def _held_announcement(dht: DhtNode, key: PublicKey) -> InboxRecord | None:
    try:
        return await find_inbox(dht, key)
    except BadgeChainError:  # nothing held, or nobody answered: the local seq decides
        return None


async def _keep_announcing(node: Services) -> None:
    """Retry the announcement until the network takes it (a first node starts alone)."""
    attempts = 0
    while True:
        attempts += 1
        await asyncio.sleep(min(ANNOUNCE_RETRY_MAX_S, _backoff(node, attempts)))
        try:
            await announce_inbox(node)
            return
        except BadgeChainError as exc:
            log.info("inbox announcement failed, will retry", extra={"code": exc.code})


async def start_delivery(node: Services) -> None:
    """Announce this node's inbox and start the outbox loop; call once the gateway serves
    (the announced URL holds its port). Node.start() calls it once."""
    try:
        await announce_inbox(node)
    except BadgeChainError as exc:
        log.info("inbox announcement failed, will retry", extra={"code": exc.code})
        node.spawn(_keep_announcing(node))
    node.spawn(run_outbox(node))


# --- finding and posting to an earner's inbox -------------------------------------------------


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


async def find_inbox(dht: DhtNode, earner_key: PublicKey) -> InboxRecord:
    """The earner's inbox announcement, as the DHT merges it (every answer validated)."""
    result = await dht.fetch(address_of_key(inbox_key(earner_key)))
    if result.value is None:
        raise DeliveryError("the earner's node has announced no inbox", code="inbox_unknown")
    record = InboxRecord.from_wire_bytes(result.value)
    if record.public_key != earner_key:
        raise DeliveryError("the DHT answered another key's inbox", code="inbox_unknown")
    return record


def _credential_bytes(credential: dict[str, Any]) -> bytes:
    body = json.dumps(credential, ensure_ascii=False).encode()
    if len(body) > MAX_INBOX_BYTES:
        raise DeliveryRefused(
            f"the badge is over the {MAX_INBOX_BYTES} bytes an inbox takes", code="body_too_large"
        )
    return body


async def post_credential(config: NodeConfig, url: str, credential: dict[str, Any]) -> None:
    """POST the credential to an inbox; raise DeliveryRefused on a definite refusal,
    DeliveryError on anything else that is not a 2xx (5xx, no answer, a 4xx that says
    "later"). Redirects are not followed: the URL was signed."""
    body = _credential_bytes(credential)
    headers = {"Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT_S)
    try:
        async with (
            client_session(config, timeout=timeout) as session,
            session.post(url, data=body, headers=headers, allow_redirects=False) as answer,
        ):
            status = answer.status
            detail = await answer.content.read(_MAX_ANSWER_BYTES)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise DeliveryError(f"no answer from {url:.100}: {exc}", code="inbox_unreachable") from exc
    if 200 <= status < 300:
        return
    code = _problem_code(detail)
    if code is not None and _is_refusal(status, code):
        raise DeliveryRefused(f"{url:.100} refused the badge: {status} {code}", code=code)
    raise DeliveryError(f"{url:.100} answered {status} {code or ''}", code="inbox_failed")


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


# --- the outbox ------------------------------------------------------------------------------


def outbox(store: Store) -> list[OutboxEntry]:
    """Every delivery not yet made, in UID order."""
    return [
        OutboxEntry.from_json_bytes(Uid(key[len(_META) :]), value)
        for key, value in store.scan(Kind.JOURNAL, _META)
    ]


def _load_credential(store: Store, uid: Uid) -> dict[str, Any] | None:
    raw = store.get(Kind.JOURNAL, _DOC + uid)
    value = None if raw is None else parse_json(raw)
    return value if isinstance(value, dict) else None


async def enqueue_delivery(
    node: Services,
    uid: Uid,
    credential: dict[str, Any],
    *,
    try_now: bool = True,
    earner_key: PublicKey | None = None,
) -> DeliveryStatus:
    """Write the delivery to the outbox, then (with `try_now`) make a first attempt.

    The inbox is that of `earner_key` if given (a badge issued to a persona, an endorsement),
    else of the subject's did:key. "no_inbox": neither names a key, nothing is queued.
    "queued": the outbox loop will try (again). "delivered", or "refused" (kept in the
    outbox, never retried).
    Raises DeliveryRefused (`body_too_large`), queuing nothing, for a badge no inbox takes.
    """
    store = node.store
    earner_key = earner_key or earner_key_of(credential)
    if earner_key is None:
        return "no_inbox"
    document = _credential_bytes(credential)
    due = _now(node) + (_lease_s(node) if try_now else 0.0)
    entry = OutboxEntry(uid, due, earner_key=earner_key)
    with store.batch() as batch:
        batch.put(Kind.JOURNAL, _META + uid, entry.to_json_bytes())
        batch.put(Kind.JOURNAL, _DOC + uid, document)
    if not try_now:
        return "queued"
    return await _attempt(node, entry, credential)


async def _attempt(
    node: Services, entry: OutboxEntry, credential: dict[str, Any]
) -> DeliveryStatus:
    """One delivery attempt of a leased entry; the outcome is written to the outbox."""
    store, dht = node.store, node.dht
    earner_key = entry.earner_key or earner_key_of(credential)
    attempts = entry.attempts + 1
    try:
        if earner_key is None:
            raise DeliveryRefused("the subject has no did:key", code="no_inbox")
        async with asyncio.timeout(node.settings.delivery_attempt_timeout_s):
            record = await find_inbox(dht, earner_key)
            await post_credential(node.config, record.url, credential)
    except DeliveryRefused as exc:
        refused = replace(entry, due=None, attempts=attempts, error=exc.code)
        store.put(Kind.JOURNAL, _META + entry.uid, refused.to_json_bytes())
        log.warning("delivery refused", extra={"uid": entry.uid.hex()[:16], "code": exc.code})
        return "refused"
    except (BadgeChainError, TimeoutError) as exc:
        code = exc.code if isinstance(exc, BadgeChainError) else "delivery_timeout"
        due = _now(node) + _backoff(node, attempts)
        retry = replace(entry, due=due, attempts=attempts, error=code)
        store.put(Kind.JOURNAL, _META + entry.uid, retry.to_json_bytes())
        log.info("delivery failed, will retry", extra={"uid": entry.uid.hex()[:16], "code": code})
        return "queued"
    with store.batch() as batch:
        batch.delete(Kind.JOURNAL, _META + entry.uid)
        batch.delete(Kind.JOURNAL, _DOC + entry.uid)
    log.info("badge delivered", extra={"uid": entry.uid.hex()[:16], "inbox": record.url})
    return "delivered"


async def deliver_due(node: Services) -> int:
    """Attempt the deliveries whose time has come; return how many were attempted."""
    store = node.store
    now = _now(node)
    due = [entry for entry in outbox(store) if entry.due is not None and entry.due <= now]
    leased: list[tuple[OutboxEntry, dict[str, Any]]] = []
    for entry in due[:OUTBOX_BATCH]:
        credential = _load_credential(store, entry.uid)
        if credential is None:  # a schedule without its document cannot be sent
            store.delete(Kind.JOURNAL, _META + entry.uid)
            continue
        store.put(
            Kind.JOURNAL,
            _META + entry.uid,
            replace(entry, due=now + _lease_s(node)).to_json_bytes(),
        )
        leased.append((entry, credential))
    gate = asyncio.Semaphore(OUTBOX_PARALLEL)

    async def attempt(entry: OutboxEntry, credential: dict[str, Any]) -> None:
        async with gate:
            await _attempt(node, entry, credential)

    await asyncio.gather(*(attempt(entry, credential) for entry, credential in leased))
    return len(leased)


async def run_outbox(node: Services) -> None:
    """The node's background delivery loop: every tick, attempt what is due. Never ends
    on its own; the node cancels it when it stops."""
    while True:
        await asyncio.sleep(node.settings.outbox_tick_s)
        try:
            await deliver_due(node)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bad round must not end deliveries for the node's lifetime
            log.exception("outbox round failed")
