"""Endorsements embedded in an Open Badge: where OB 3.0 puts them (the credential, its
Achievement, its issuer Profile and the Achievement's creator; as `endorsement` objects or
`endorsementJwt` compact JWSs), and the bounds on verifying them.

Each one is verified like a credential by `verify`; this module only finds them and counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import BadgeChainError

__all__ = [
    "MAX_ENDORSEMENTS",
    "MAX_ENDORSEMENT_DEPTH",
    "Budget",
    "Embedded",
    "embedded_endorsements",
]

# Per verification, all levels together: each endorsement costs a full proof check.
MAX_ENDORSEMENTS = 16
# An endorsement's issuer Profile may carry endorsements of its own; one level of that is read.
MAX_ENDORSEMENT_DEPTH = 2


@dataclass(frozen=True, slots=True)
class Embedded:
    """One embedded endorsement: where it sits, and the object or the JWS text found there."""

    where: str
    value: object
    is_jwt: bool


class Budget:
    """How many endorsements one verification may still check, shared by nested verifiers."""

    __slots__ = ("remaining",)

    def __init__(self, limit: int = MAX_ENDORSEMENTS) -> None:
        self.remaining = limit

    def take(self, count: int) -> None:
        if count > self.remaining:
            raise BadgeChainError(
                f"more than {MAX_ENDORSEMENTS} endorsements to verify",
                code="endorsement_too_many",
            )
        self.remaining -= count


def embedded_endorsements(credential: dict[str, Any]) -> list[Embedded]:
    """Every endorsement in `credential`, in document order; stops counting past the limit
    (the caller's Budget refuses them then), so a hostile list costs nothing to read."""
    found: list[Embedded] = []
    for path, holder in _holders(credential):
        for name, is_jwt in (("endorsement", False), ("endorsementJwt", True)):
            value = holder.get(name)
            items = value if isinstance(value, list) else [] if value is None else [value]
            for index, item in enumerate(items[: MAX_ENDORSEMENTS + 1]):
                where = f"{path}{name}[{index}]" if isinstance(value, list) else f"{path}{name}"
                found.append(Embedded(where, item, is_jwt))
                if len(found) > MAX_ENDORSEMENTS:
                    return found
    return found


def _holders(credential: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The objects that may carry endorsements, with the path prefix that names them."""
    holders: list[tuple[str, dict[str, Any]]] = [("", credential)]
    issuer = credential.get("issuer")
    if isinstance(issuer, dict):
        holders.append(("issuer.", issuer))
    subjects = credential.get("credentialSubject")
    many = isinstance(subjects, list)
    listed: list[Any] = subjects[:MAX_ENDORSEMENTS] if isinstance(subjects, list) else [subjects]
    for index, subject in enumerate(listed):
        achievement = subject.get("achievement") if isinstance(subject, dict) else None
        if not isinstance(achievement, dict):
            continue
        prefix = f"credentialSubject[{index}]." if many else "credentialSubject."
        holders.append((f"{prefix}achievement.", achievement))
        creator = achievement.get("creator")
        if isinstance(creator, dict):
            holders.append((f"{prefix}achievement.creator.", creator))
    return holders[: MAX_ENDORSEMENTS + 2]
