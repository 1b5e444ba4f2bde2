"""Where staples travel (docs/presentations.md): inside a presentation, under one property,
one staple per credential; beside a single downloaded badge, in a StapledCredential.
chain/staple.py reads each staple and bounds its freshness.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Final

from .report import Check, Report, finish_report
from .resolve import Resolvers, Unreachable
from .staple import CredentialVerifier, credential_uid_text, verify_with_staple

__all__ = [
    "MAX_STAPLES",
    "STAPLED_CREDENTIAL_TYPE",
    "STAPLES_PROPERTY",
    "is_stapled_credential",
    "presentation_staples",
    "stapled_note",
    "staples_value",
    "stapling",
    "unmatched_staples",
    "verify_stapled_credential",
]

STAPLED_CREDENTIAL_TYPE: Final = "StapledCredential"
# A JSON literal (`@type: @json`) under an absolute IRI: no context defines it, and the
# holder's proof covers it as one RDF literal.
STAPLES_PROPERTY: Final = "https://badgechain.example/ns#staples"
MAX_STAPLES: Final = 16  # one per credential of a presentation


def staples_value(staples: list[dict[str, Any]]) -> dict[str, Any]:
    """The value of STAPLES_PROPERTY in a presentation: the staples as a JSON literal."""
    return {"@type": "@json", "@value": staples}


def presentation_staples(presentation: dict[str, Any]) -> dict[str, object]:
    """The staples a presentation carries, by the UID each names (malformed ones dropped:
    they are reported when the credential they name is verified)."""
    value = presentation.get(STAPLES_PROPERTY)
    items = value.get("@value") if isinstance(value, dict) else None
    if not isinstance(items, list):
        return {}
    found: dict[str, object] = {}
    for item in items[:MAX_STAPLES]:
        uid = item.get("uid") if isinstance(item, dict) else None
        if isinstance(uid, str) and uid not in found:
            found[uid] = item
    return found


# -- a single stapled badge --------------------------------------------------------------------


def is_stapled_credential(document: object) -> bool:
    return isinstance(document, dict) and document.get("type") == STAPLED_CREDENTIAL_TYPE


def verify_stapled_credential(
    document: dict[str, Any],
    *,
    now: datetime,
    resolvers: Resolvers,
    verify_credential: CredentialVerifier,
) -> Report:
    """A downloaded badge with its staple: {"type": "StapledCredential",
    "verifiableCredential": {...}, "staple": {...}} (docs/presentations.md)."""
    credential = document.get("verifiableCredential")
    if not isinstance(credential, dict):
        failed = Check(
            "input", "failed", "staple_invalid", "verifiableCredential must be an object"
        )
        return finish_report("stapled", None, [failed])
    return verify_with_staple(credential, document.get("staple"), now, resolvers, verify_credential)


# -- staples in a presentation -----------------------------------------------------------------


def stapling(
    verify_credential: CredentialVerifier,
    staples: dict[str, object],
    carried: list[dict[str, Any]],
) -> CredentialVerifier:
    """`verify_credential`, each credential verified with the staple naming its UID, and a
    badge it links to (a persona's genesis badge) taken from the presentation when carried
    there (it is verified in full like any linked badge)."""
    by_uid = {credential_uid_text(item): item for item in carried}

    def verify(credential: object, *, now: datetime, resolvers: Resolvers | None = None) -> Report:
        resolvers = _with_carried(resolvers or Resolvers(), by_uid)
        uid = credential_uid_text(credential) if isinstance(credential, dict) else None
        staple = staples.get(uid) if uid is not None else None
        if staple is None or not isinstance(credential, dict):
            return verify_credential(credential, now=now, resolvers=resolvers)
        return verify_with_staple(credential, staple, now, resolvers, verify_credential)

    return verify


def _with_carried(resolvers: Resolvers, by_uid: dict[str | None, dict[str, Any]]) -> Resolvers:
    fetch = resolvers.badges

    def badge(uid: str) -> dict[str, Any] | None:
        held = by_uid.get(uid)
        if held is not None:
            return held
        if fetch is None:
            raise Unreachable(
                f"linked badge {uid[:16]}… is not carried and not fetched",
                code="chain_unchecked_offline",
            )
        return fetch(uid)

    return dataclasses.replace(resolvers, badges=badge)


def unmatched_staples(staples: dict[str, object], credentials: list[dict[str, Any]]) -> str | None:
    """A note on staples that name no carried credential (ignored), for the report."""
    carried = {credential_uid_text(credential) for credential in credentials}
    stray = [uid for uid in staples if uid not in carried]
    if not stray:
        return None
    return f"staple_uid_mismatch: {len(stray)} staple(s) for another UID ignored"


def stapled_note(reports: list[Report]) -> str | None:
    """What the holder's staples answered for a presentation's credentials, for its report."""
    stapled = [
        next(check for check in report.checks if check.code == "stapled")
        for report in reports
        if any(check.code == "stapled" for check in report.checks)
    ]
    if not stapled:
        return None
    where = stapled[0].message.rpartition("(from the holder's staple")[2].rstrip(")")
    return f"{len(stapled)} answered from the holder's staple{where}"
