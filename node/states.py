"""The states a badge held by this node goes through, and which changes are possible.

The stored state record keeps the state as its plain string (`"state": "accepted"`), so a
home written before this module reads the same; `BadgeState` is that string, typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from .errors import NodeError

__all__ = ["NOT_SERVED", "TRANSITIONS", "BadgeState", "StateChangeRefused", "advance"]


class BadgeState(StrEnum):
    ISSUED = "issued"  # this node signed it (a class badge, an endorsement)
    UNPUBLISHED = "unpublished"  # a persona's genesis badge, before its BNS entry is out
    INBOX = "inbox"  # delivered to this node, waiting for the earner's decision
    ACCEPTED = "accepted"  # kept, with a published location
    HIDDEN = "hidden"  # kept, valid, with an empty location
    REJECTED = "rejected"  # refused from the inbox: its document is gone
    REVOKED = "revoked"  # revoked by this node, its issuer


# Which state may follow which. Revoking is the issuer's right over whatever it signed,
# whatever the badge's state here; rejected and revoked are final.
_LIVE: Final = frozenset(BadgeState) - {BadgeState.REJECTED, BadgeState.REVOKED}
TRANSITIONS: Final[Mapping[BadgeState, frozenset[BadgeState]]] = {
    BadgeState.ISSUED: frozenset({BadgeState.REVOKED}),
    BadgeState.UNPUBLISHED: frozenset({BadgeState.ACCEPTED, BadgeState.REVOKED}),
    BadgeState.INBOX: frozenset({BadgeState.ACCEPTED, BadgeState.REJECTED, BadgeState.REVOKED}),
    # moving re-accepts (also a hidden badge), hiding again is harmless
    BadgeState.ACCEPTED: frozenset({BadgeState.ACCEPTED, BadgeState.HIDDEN, BadgeState.REVOKED}),
    BadgeState.HIDDEN: frozenset({BadgeState.ACCEPTED, BadgeState.HIDDEN, BadgeState.REVOKED}),
    BadgeState.REJECTED: frozenset(),
    BadgeState.REVOKED: frozenset(),
}
# States whose badge the gateway does not serve: not (or no longer) shown by its earner.
NOT_SERVED: Final = frozenset({BadgeState.INBOX, BadgeState.REJECTED, BadgeState.HIDDEN})


class StateChangeRefused(NodeError):
    """A change the transition table does not allow: a bug in the caller, or a race."""

    code = "state_change_refused"


def advance(current: object, target: BadgeState) -> BadgeState:
    """`target`, when a badge in state `current` (the stored string) may go there."""
    try:
        state = BadgeState(str(current))
    except ValueError:
        raise StateChangeRefused(f"unknown badge state {current!r:.40}") from None
    if target not in TRANSITIONS[state]:
        raise StateChangeRefused(f"a badge cannot go from {state} to {target}")
    return target
