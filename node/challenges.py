"""Challenges a verifier hands out for presentations (issue 14 item 1): single use, with an
expiry, kept in the node's LevelDB so that a restart does not let a used one be replayed.

Kind.JOURNAL, key = b"vp-challenge/" + challenge: JSON {"domain", "expires", "used"}. A used
challenge is kept (as used) until it expires, so a replay is told apart from a stranger's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from badgechain.chain.holder import MAX_BINDING_CHARS, Binding
from badgechain.storage import Kind, Store

from .errors import NodeError
from .records import HeldChallenge

__all__ = [
    "CHALLENGE_TTL_S",
    "MAX_OPEN_CHALLENGES",
    "ChallengeError",
    "Issued",
    "check_challenge",
    "consume_challenge",
    "issue_challenge",
]

CHALLENGE_TTL_S: Final = 600
MAX_OPEN_CHALLENGES: Final = 10_000  # anyone may ask for one: a bound on the disk they cost
PREFIX: Final = b"vp-challenge/"


class ChallengeError(NodeError):
    """A challenge this verifier does not accept: `challenge_unknown`, `challenge_replayed`,
    `challenge_expired`, `domain_mismatch`; `challenges_full` when none can be handed out."""

    code = "challenge_invalid"  # 422; challenges_full 503 (node/errors.py)


@dataclass(frozen=True, slots=True)
class Issued:
    binding: Binding
    expires: datetime


def issue_challenge(
    store: Store, domain: str, now: datetime, *, max_open: int = MAX_OPEN_CHALLENGES
) -> Issued:
    """A new single-use challenge for `domain`, valid for CHALLENGE_TTL_S; at most
    `max_open` unexpired ones at a time."""
    open_count = _prune(store, now)
    if open_count >= max_open:
        raise ChallengeError("too many open challenges; try again later", code="challenges_full")
    issued = Issued(
        Binding(secrets.token_urlsafe(24), domain), now + timedelta(seconds=CHALLENGE_TTL_S)
    )
    value = HeldChallenge(domain=domain, expires=issued.expires.timestamp(), used=False)
    store.put(Kind.JOURNAL, PREFIX + issued.binding.challenge.encode(), value.to_bytes())
    return issued


def _prune(store: Store, now: datetime) -> int:
    """Delete expired challenges; the number left."""
    left = 0
    with store.batch() as batch:
        for key, raw in store.scan(Kind.JOURNAL, PREFIX):
            expires = HeldChallenge.from_bytes(raw).expires
            if expires is None or expires <= now.timestamp():  # (None: a mark no node wrote)
                batch.delete(Kind.JOURNAL, key)
            else:
                left += 1
    return left


def check_challenge(store: Store, challenge: str, domain: str | None, now: datetime) -> Binding:
    """The binding of `challenge` when it may be used now; ChallengeError when it was not
    handed out here, was used already, has expired, or was for another domain."""
    return _usable(store, challenge, domain, now)[0]


def consume_challenge(store: Store, challenge: str, domain: str | None, now: datetime) -> Binding:
    """`check_challenge`, and the challenge marked used. No await between the check and the
    write (there is none here), so two requests cannot both use it."""
    binding, held = _usable(store, challenge, domain, now)
    store.put(Kind.JOURNAL, PREFIX + challenge.encode(), held.with_members(used=True).to_bytes())
    return binding


def _usable(
    store: Store, challenge: str, domain: str | None, now: datetime
) -> tuple[Binding, HeldChallenge]:
    raw = None
    if 0 < len(challenge) <= MAX_BINDING_CHARS:
        raw = store.get(Kind.JOURNAL, PREFIX + challenge.encode())
    if raw is None:
        raise ChallengeError(
            "this verifier did not hand out that challenge", code="challenge_unknown"
        )
    held = HeldChallenge.from_bytes(raw)
    if held.used is not False:  # used, or a mark no node wrote: never usable
        raise ChallengeError("the challenge was used already", code="challenge_replayed")
    if held.expires is None or held.expires <= now.timestamp():
        raise ChallengeError("the challenge has expired", code="challenge_expired")
    if held.domain is None or (domain is not None and domain != held.domain):
        raise ChallengeError(
            f"the challenge is for domain {held.domain!r:.80}", code="domain_mismatch"
        )
    return Binding(challenge, held.domain), held
