"""A read-only view of a credential's JSON with named accessors, so that no caller digs
through `credentialSubject` by hand. Every accessor tolerates any JSON: a missing or
malformed member reads as empty (verification, not this view, judges)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .badge import issuer_id
from .proof import proof_list

__all__ = ["CredentialView"]

_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class CredentialView:
    """`document` is the credential as parsed JSON; the view never changes it."""

    document: Mapping[str, Any]

    @property
    def issuer_id(self) -> str:
        """`issuer`, or its `id` when it is a Profile; "" when the credential names none."""
        return issuer_id(dict(self.document))

    @property
    def types(self) -> tuple[str, ...]:
        found = self.document.get("type")
        items = found if isinstance(found, list) else [found]
        return tuple(item for item in items if isinstance(item, str))

    @property
    def subjects(self) -> tuple[Mapping[str, Any], ...]:
        """Every credentialSubject that is an object, in order."""
        found = self.document.get("credentialSubject")
        items = found if isinstance(found, list) else [found]
        return tuple(item for item in items if isinstance(item, dict))

    @property
    def subject(self) -> Mapping[str, Any]:
        """The first subject (an OB 3.0 badge has one); empty when there is none."""
        subjects = self.subjects
        return subjects[0] if subjects else _EMPTY

    @property
    def sole_subject(self) -> Mapping[str, Any] | None:
        """The subject when there is exactly one; None for none or several."""
        subjects = self.subjects
        return subjects[0] if len(subjects) == 1 else None

    @property
    def subject_id(self) -> str | None:
        found = self.subject.get("id")
        return found if isinstance(found, str) else None

    @property
    def achievement(self) -> Mapping[str, Any]:
        found = self.subject.get("achievement")
        return found if isinstance(found, dict) else _EMPTY

    @property
    def name(self) -> str | None:
        """The achievement's name, else the credential's own; None when neither is text."""
        for found in (self.achievement.get("name"), self.document.get("name")):
            if isinstance(found, str):
                return found
        return None

    @property
    def proofs(self) -> list[dict[str, Any]]:
        """The proofs (a single proof or a set); ProofError when malformed, as proof_list."""
        return proof_list(dict(self.document))

    @property
    def status_entries(self) -> tuple[dict[str, Any], ...]:
        """Every credentialStatus entry that is an object."""
        found = self.document.get("credentialStatus")
        items = found if isinstance(found, list) else [found]
        return tuple(item for item in items if isinstance(item, dict))
