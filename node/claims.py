"""Email claims (issue 14 item 7, docs/claims.md; DESIGN.md "BNS protocol").

A badge issued to an email address only has no earner key: its issuer writes its location.
Issuing it also writes a claim (journal `CLAIM_PREFIX` + UID: a salted hash of a one-time
code, its expiry, failed attempts) and a mail with the code (node/mail.py). The earner's
node sends the code to the issuer's node (`POST /claims/{uid}`, `redeem`), which checks it
and signs the hand-over naming the earner's key (bns/record.py `Handover`), then answers
the badge; from then on only the earner writes its location (`claim` on the earner side).

The code itself is kept only in the pending mail, which is deleted once sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

from badgechain.bns.errors import NotFound, RecordError
from badgechain.bns.record import Record, make_handover
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import PublicKey, did_key_from_public_key
from badgechain.chain.uid import Uid, uid_text
from badgechain.chain.verify import verify_credential
from badgechain.storage import Kind

from . import earner, inbox_counts, mail
from .badgestore import credential_uid, load_badge, load_record
from .claim_proof import ClaimProof, check_claim_proof, normal_code, sign_claim
from .didweb import did_web_resolvers
from .errors import NodeError
from .outbound import client_session, shown_url, why_unreachable
from .pipeline import Op
from .records import BadgeRecord
from .services import Services
from .states import BadgeState

__all__ = [
    "CLAIM_PREFIX",
    "CODE_TTL_S",
    "FAILURE_WINDOW_S",
    "MAX_FAILURES",
    "ClaimError",
    "claim",
    "claim_writes",
    "new_code",
    "publish_issuer_location",
    "redeem",
]

log = logging.getLogger(__name__)

CLAIM_PREFIX: Final = b"claim/"
CODE_TTL_S: Final = 7 * 24 * 3600  # a code is good for a week
MAX_FAILURES: Final = 5  # wrong codes per window, then `claim_rate_limited`
FAILURE_WINDOW_S: Final = 15 * 60
MAX_CODE_CHARS: Final = 32
MAX_CLAIM_ANSWER_BYTES: Final = 1024 * 1024
_ALPHABET: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read from a mail
_CODE_CHARS: Final = 12  # 60 bits


class ClaimError(NodeError):
    """A claim refused or failed; its codes' statuses are in node/errors.py (422 unless
    listed: an issuer that did not answer usefully is a 422 the caller can act on)."""

    code = "claim_failed"
    retry_after_s: int | None = None  # claim_rate_limited: when the window lets one more in


# The stable codes of a claim (their statuses: node/errors.py); an issuer's refusal naming
# one is passed on as it is, any other as claim_issuer_failed.
CLAIM_CODES: Final = frozenset(
    {
        "claim_not_found",
        "claim_code_wrong",
        "claim_code_expired",
        "claim_code_used",
        "claim_rate_limited",
        "claim_code_invalid",
        "claim_issuer_unknown",
        "claim_not_handed_over",
        "claim_issuer_unreachable",
        "claim_issuer_failed",
        "claim_badge_invalid",
        "claim_proof_missing",
        "claim_proof_invalid",
        "claim_proof_stale",
    }
)


def _error(message: str, code: str) -> ClaimError:
    return ClaimError(message, code=code)


def is_open(raw: bytes | None) -> bool:
    """Whether a stored claim (`CLAIM_PREFIX` + UID) still waits for its code to be spent;
    a record that does not read as a claim is not."""
    if raw is None:
        return False
    try:
        return _Claim.load(raw).earner is None
    except (ValueError, TypeError):
        return False


@dataclass(slots=True)
class _Claim:
    salt: str
    digest: str
    expires: float
    failures: list[float] = field(default_factory=list)  # times of wrong codes in the window
    earner: str | None = None  # the key (hex) the code was spent on

    @classmethod
    def load(cls, raw: bytes) -> _Claim:
        return cls(**json.loads(raw))

    def dump(self) -> bytes:
        return json.dumps(asdict(self)).encode()


def new_code() -> str:
    """A one-time code, grouped for reading: XXXX-XXXX-XXXX."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_CHARS))
    return "-".join(chars[i : i + 4] for i in range(0, _CODE_CHARS, 4))


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + normal_code(code).encode()).hexdigest()


def claim_writes(
    node: Services, uid: Uid, email: str, badge_name: str, now: float, code: str
) -> list[Op]:
    """The claim of an email-only badge and its mail, for the batch that stores the badge;
    the mail is queued now. Called with no await before that batch is written (node/pipeline.py),
    so the worker cannot look for the mail before it is there; should the batch fail, the
    queued item finds no mail and is done."""
    salt = secrets.token_hex(16)
    claim = _Claim(salt, _digest(salt, code), now + CODE_TTL_S)
    text = uid_text(uid)
    body = (
        f"You have been awarded the badge {badge_name!r} by {node.did}.\n\n"
        f"To claim it, run on your BadgeChain node:\n\n"
        f"  badgechain claim {text} --code {code} --issuer {node.gateway_url}\n\n"
        f"The code works once and expires in {CODE_TTL_S // 86400} days.\n"
    )
    subject = f"Your badge: {badge_name}"
    node.enqueue(mail.MAIL_TOPIC, uid)
    return [
        (Kind.JOURNAL, CLAIM_PREFIX + uid, claim.dump()),
        *mail.mail_writes(uid, email, subject, body),
    ]


def _check(
    node: Services, uid: Uid, code: str, earner_key: PublicKey, proof: ClaimProof | None
) -> None:
    """Spend the code on `earner_key`, or raise with a stable code. No await: two claims
    at once cannot both spend it. The claim must be signed by `earner_key` (node/claim_proof.py)
    before the code is looked at: a claim for a key the claimant cannot sign with costs it
    neither the code nor an attempt."""
    raw = node.store.get(Kind.JOURNAL, CLAIM_PREFIX + uid)
    if raw is None:
        raise _error("no claim is open for this badge", "claim_not_found")
    claim, now = _Claim.load(raw), node.clock().timestamp()
    claim.failures = [t for t in claim.failures if t > now - FAILURE_WINDOW_S]
    if len(claim.failures) >= MAX_FAILURES:
        error = _error(
            f"{MAX_FAILURES} wrong codes in {FAILURE_WINDOW_S // 60} minutes; try later",
            "claim_rate_limited",
        )
        error.retry_after_s = max(1, int(claim.failures[0] + FAILURE_WINDOW_S - now) + 1)
        raise error
    check_claim_proof(proof, uid, node.key.public_key, earner_key, code, now)
    if not hmac.compare_digest(_digest(claim.salt, code), claim.digest):
        claim.failures.append(now)
        node.store.put(Kind.JOURNAL, CLAIM_PREFIX + uid, claim.dump())
        raise _error("the code is wrong", "claim_code_wrong")
    if claim.earner is not None and claim.earner != earner_key.hex():
        raise _error("the code was used already", "claim_code_used")
    if claim.earner is None and now > claim.expires:
        raise _error("the code has expired; ask the issuer for a new one", "claim_code_expired")
    claim.earner = earner_key.hex()  # the same key may ask again (a lost answer)
    node.store.put(Kind.JOURNAL, CLAIM_PREFIX + uid, claim.dump())


async def publish_issuer_location(node: Services, uid: Uid) -> None:
    """Until the claim the issuer writes the location: its own gateway, so the badge can be
    fetched and a claim finds the issuer without --issuer. Best effort: the mail names the
    issuer too, and the earner's location replaces this one."""
    try:
        await node.names.set_location(node.key, uid, [earner.badge_url(node, uid)])
    except BadgeChainError as exc:
        log.warning("publishing an email badge's location failed", extra={"code": exc.code})


async def redeem(
    node: Services, uid: Uid, code: str, earner_key: PublicKey, proof: ClaimProof | None
) -> dict[str, Any]:
    """The issuer's side: check the claimant's proof and the code, sign and publish the
    hand-over; return the badge."""
    if not code or len(code) > MAX_CODE_CHARS:
        raise _error(f"a code is 1 to {MAX_CODE_CHARS} characters", "claim_code_invalid")
    _check(node, uid, code, earner_key, proof)
    credential = load_badge(node.store, uid)
    if credential is None:
        raise _error("this node holds the claim but not the badge", "claim_not_found")
    await _hand_over(node, uid, earner_key)
    return credential


async def _hand_over(node: Services, uid: Uid, earner_key: PublicKey) -> None:
    """Publish the signed hand-over (DESIGN.md "BNS protocol"). The replicas validate it and
    refuse a second one to another key (`handover_conflict`); the same one again is a no-op
    (Ed25519 signs it to the same bytes). A cached answer will do: the entry never changes."""
    current = await node.names.resolve(uid)
    handover = make_handover(node.key, uid, earner_key)
    if current.handover == handover:
        return
    record = Record(current.entry, None, current.revocation, handover)
    result = await node.names.hand_over(record)  # its answer cache sees it at once
    refused = {code: n for code, n in result.refused.items() if code != "stale"}
    if result.accepted == 0 and refused:  # "stale": a replica holds this hand-over already
        code = max(refused.items(), key=lambda kv: kv[1])[0]
        raise ClaimError(f"every replica refused the hand-over: {result.refused}", code=code)


async def claim(node: Services, uid: Uid, code: str, issuer_url: str | None) -> dict[str, Any]:
    """The earner's side: ask the issuer's node, then keep the badge and accept it (this
    node's key now writes its location). Returns the badge's state."""
    record = await _record(node, uid)
    if issuer_url is None:
        issuer_url = _origin_of(record)
    proof = sign_claim(node.key, uid, record.entry.issuer_key, code, int(node.clock().timestamp()))
    credential = await _ask_issuer(node, uid, code, issuer_url, proof)
    resolvers = await did_web_resolvers(node, credential)
    report = await asyncio.to_thread(
        verify_credential, credential, now=node.clock(), resolvers=resolvers
    )
    if report.failed is not None or credential_uid(credential) != uid:
        raise _error("the issuer answered a badge that does not verify", "claim_badge_invalid")
    held = load_record(node.store, uid)
    if held is not None and held.state != BadgeState.INBOX:
        return held.to_json()  # claimed before: the answer to it was lost
    if held is None:
        at = node.clock().isoformat(timespec="seconds")
        state = BadgeRecord(role="received", state=BadgeState.INBOX, at=at, via="claim")
        inbox_counts.save(node.store, credential, state)
    try:  # the location write checks the hand-over: only the handed-to key may write
        return (await earner.accept(node, uid))[0]
    except RecordError as exc:
        if exc.code != "not_location_writer":
            raise
        raise _error(
            "the BNS holds no hand-over to this node's key", "claim_not_handed_over"
        ) from exc


async def _record(node: Services, uid: Uid) -> Record:
    """The badge's BNS record: its entry names the issuer key the claim is signed for."""
    try:
        return await node.names.resolve(uid)
    except NotFound as exc:
        raise _error("the BNS knows no such badge", "claim_issuer_unknown") from exc


async def _issuer_origin(node: Services, uid: Uid) -> str:
    """The issuer's gateway, from the location its issuer wrote (node/mail_claims.py too)."""
    return _origin_of(await _record(node, uid))


def _origin_of(record: Record) -> str:
    """The issuer's gateway, from the location its issuer wrote (while it is the writer)."""
    if record.location is None or not record.location.urls:
        raise _error("the badge has no location: give --issuer URL", "claim_issuer_unknown")
    parts = urlsplit(record.location.urls[0])
    return f"{parts.scheme}://{parts.netloc}"


async def _ask_issuer(
    node: Services, uid: Uid, code: str, issuer_url: str, proof: ClaimProof
) -> dict[str, Any]:
    url = f"{issuer_url.rstrip('/')}/claims/{uid_text(uid)}"
    earner_did = did_key_from_public_key(node.key.public_key)
    body = {"code": code, "earner": earner_did, **proof.to_json()}
    timeout = aiohttp.ClientTimeout(total=node.settings.claim_timeout_s)
    try:
        async with (
            client_session(node.config, timeout=timeout) as session,
            session.post(url, json=body, allow_redirects=False) as answer,
        ):
            status = answer.status
            data = await answer.content.read(MAX_CLAIM_ANSWER_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise _error(
            f"no answer from {shown_url(url)}: {why_unreachable(exc)}", "claim_issuer_unreachable"
        ) from exc
    try:
        answer_json = json.loads(data) if len(data) <= MAX_CLAIM_ANSWER_BYTES else None
    except ValueError:
        answer_json = None
    if not isinstance(answer_json, dict):
        raise _error(f"{url:.100} answered {status} without JSON", "claim_issuer_failed")
    if status != 200:
        code_text = answer_json.get("code")
        known = isinstance(code_text, str) and code_text in CLAIM_CODES
        detail = str(answer_json.get("detail", ""))[:200]
        raise _error(f"the issuer refused: {detail}", code_text if known else "claim_issuer_failed")  # type: ignore[arg-type]
    credential = answer_json.get("credential")
    if not isinstance(credential, dict):
        raise _error(f"{url:.100} answered no badge", "claim_issuer_failed")
    return credential
