"""What one verification run of a credential knows: its inputs and what earlier checks found.
The check mixins (chain.verify_proofs, chain.verify_network) and chain.verifier build on it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from . import jose
from .badge import issuer_id
from .endorsements import Budget
from .report import Check
from .resolve import ResolvedKey, Resolvers, Unreachable

__all__ = ["VerifierState"]


class VerifierState:
    """The state of one run; each `_check_*` method of a subclass returns the Check it names."""

    # Set as the run goes (a later check reads what an earlier one found); left unset until
    # then, so `getattr(self, name, None)` asks whether that check got so far.
    credential: dict[str, Any]
    checks: list[Check]
    chain_earner: str | None
    chain_walked: bool
    chain_length: int

    def __init__(
        self,
        now: datetime,
        resolvers: Resolvers,
        expected_uid: str | None,
        fmt: str,
        jws: jose.Jws | None,
        depth: int = 0,
        seen: frozenset[str] = frozenset(),
    ) -> None:
        self.now = now.astimezone(UTC)
        self.resolvers = resolvers
        self.expected_uid = expected_uid
        self.fmt = fmt
        self.jws = jws
        self.depth = depth
        self.seen = seen
        self.uid: str | None = None
        self.keys: dict[str, ResolvedKey] = {}
        self.unreachable: dict[str, Unreachable] = {}
        self.endorsement_depth = 0
        self.endorsement_budget = Budget()

    @property
    def issuer_id(self) -> str:
        return issuer_id(self.credential)

    @property
    def subject_id(self) -> str | None:
        subject = self.credential.get("credentialSubject")
        subject = subject[0] if isinstance(subject, list) and subject else subject
        value = subject.get("id") if isinstance(subject, dict) else None
        return value if isinstance(value, str) else None
