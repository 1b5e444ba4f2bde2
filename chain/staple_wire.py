"""A staple's wire form (chain/staple.py): making one, and reading what a holder sent,
each part checked (signatures, the UID, freshness) before it may answer."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from . import statuslist
from .badge import issuer_id
from .errors import BadgeChainError
from .proof import proof_list
from .resolve import Resolvers, Unreachable
from .statuslist import CheckedList, StatusListError

__all__ = [
    "CLOCK_SKEW",
    "MAX_RECORD_BYTES",
    "MAX_STAPLED_LISTS",
    "RECORD_FRESH_S",
    "STAPLE_RECORD_READER",
    "STAPLE_TYPE",
    "RecordReader",
    "StapleUse",
    "StapledRecord",
    "build_staple",
    "credential_uid_text",
    "list_urls",
    "read_staple",
]

STAPLE_TYPE: Final = "BadgeStaple"
STAPLE_RECORD_READER: Final = "staple_record_reader"  # the key in Resolvers.extra
MAX_STAPLED_LISTS: Final = 8  # as many as chain.verify reads credentialStatus entries
MAX_RECORD_BYTES: Final = 8 * 1024  # a BNS value fits one datagram
RECORD_FRESH_S: Final = 3600  # a status list's own ttl
CLOCK_SKEW: Final = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class StapledRecord:
    """A BNS record, its signatures checked, as a staple needs it."""

    uid: str
    issuer_did: str
    earner_did: str | None
    created: datetime  # the issuer's entry
    revoked_at: datetime | None = None  # the issuer's revocation
    reason: str = ""

    @property
    def signed_at(self) -> datetime:
        """The latest time the issuer signed in it."""
        return max(self.created, self.revoked_at or self.created)


# The record in a staple's wire bytes, signatures checked; raises BadgeChainError when forged.
RecordReader = Callable[[bytes], StapledRecord]


@dataclass(slots=True)
class StapleUse:
    """What a staple gave one verification: problems found in it, and what it answered."""

    problems: list[tuple[str, str]] = field(default_factory=list)  # (code, message)
    lists: dict[str, CheckedList] = field(default_factory=dict)
    record: StapledRecord | None = None
    answered: set[str] = field(default_factory=set)  # "bns", "status"

    def problem(self, code: str, message: str) -> None:
        self.problems.append((code, message))

    @property
    def fresh_until(self) -> datetime | None:
        ends = [checked.valid_until for checked in self.lists.values() if checked.valid_until]
        return min(ends) if ends else None


# -- making staples ----------------------------------------------------------------------------


def build_staple(
    uid: str, lists: list[dict[str, Any]], record_wire: bytes | None
) -> dict[str, Any]:
    """The staple of `uid`: its signed status list credentials and BNS record, as found."""
    staple: dict[str, Any] = {
        "type": STAPLE_TYPE,
        "uid": uid,
        "statusLists": lists[:MAX_STAPLED_LISTS],
    }
    if record_wire is not None:
        staple["bnsRecord"] = base64.urlsafe_b64encode(record_wire).decode().rstrip("=")
    return staple


def credential_uid_text(credential: dict[str, Any]) -> str | None:
    """A credential's UID (its first proof's proofValue), as text."""
    try:
        proofs = proof_list(credential)
    except BadgeChainError:
        return None
    value = proofs[0].get("proofValue") if proofs else None
    return value if isinstance(value, str) and len(value) <= 128 else None


# -- reading a staple --------------------------------------------------------------------------


def read_staple(
    staple: object, credential: dict[str, Any], *, now: datetime, resolvers: Resolvers
) -> StapleUse:
    """What `staple` can answer for `credential` at `now`; every part that is stale, forged,
    about another UID or a list the credential does not name is reported in `problems` and
    left out."""
    uid = credential_uid_text(credential)
    use = StapleUse()
    if not isinstance(staple, dict) or staple.get("type") != STAPLE_TYPE:
        use.problem("staple_invalid", "the staple is not a BadgeStaple object")
        return use
    if uid is None or staple.get("uid") != uid:
        use.problem(
            "staple_uid_mismatch", f"the staple is for {staple.get('uid')!r:.40}, not this badge"
        )
        return use
    named = list_urls(credential)
    _read_lists(staple.get("statusLists", []), named, now, resolvers, use)
    for url, checked in list(use.lists.items()):  # only the badge's issuer answers for it
        if checked.issuer != issuer_id(credential):
            use.problem("staple_forged", f"stapled list {url:.80} is not the badge's issuer's")
            del use.lists[url]
    _read_record(staple.get("bnsRecord"), uid, now, resolvers, use)
    return use


def _read_lists(
    lists: object, named: set[str], now: datetime, resolvers: Resolvers, use: StapleUse
) -> None:
    if not isinstance(lists, list) or len(lists) > MAX_STAPLED_LISTS:
        use.problem("staple_invalid", f"statusLists must be a list of at most {MAX_STAPLED_LISTS}")
        return
    verify = statuslist.list_proof_verifier(resolvers.did_documents)
    for document in lists:
        url = document.get("id") if isinstance(document, dict) else None
        if not isinstance(url, str):
            use.problem("staple_invalid", "a stapled status list names no id")
            continue
        try:
            checked = statuslist.check_list_credential(
                document, list_url=url, now=now, verify_list_proof=verify
            )
        except Unreachable as exc:
            use.problem("staple_unchecked", f"the stapled list's key: {exc.message:.100}")
            continue
        except StatusListError as exc:
            use.problem(_list_problem(exc.code), f"stapled list {url:.80}: {exc.message:.160}")
            continue
        if url not in named:
            use.problem("staple_invalid", f"the badge names no status list {url:.80}")
            continue
        until = _list_bound(document, checked)
        if until is None or until <= now:
            use.problem("staple_stale", f"stapled list {url:.80}: past its freshness bound")
            continue
        use.lists[url] = dataclasses.replace(checked, valid_until=until)


def _list_bound(document: dict[str, Any], checked: CheckedList) -> datetime | None:
    """Until when a stapled list answers: its validUntil, and validFrom + ttl when it gives
    one (how long its issuer says a copy may be kept); validFrom + RECORD_FRESH_S for a list
    that gives neither; None (never) for a list with no dates at all."""
    subject = document.get("credentialSubject")
    ttl = subject.get("ttl") if isinstance(subject, dict) else None
    bounds = [checked.valid_until] if checked.valid_until else []
    start = checked.valid_from
    if start is not None and isinstance(ttl, int) and not isinstance(ttl, bool) and ttl >= 0:
        bounds.append(start + timedelta(milliseconds=min(ttl, 10**12)))
    if start is not None and not bounds:
        bounds.append(start + timedelta(seconds=RECORD_FRESH_S))
    return min(bounds) if bounds else None


def _list_problem(code: str) -> str:
    if code == "status_list_stale":
        return "staple_stale"
    if code in (
        "status_list_signature_invalid",
        "status_list_unsigned",
        "status_list_wrong_signer",
    ):
        return "staple_forged"
    return "staple_invalid"


def _read_record(
    encoded: object, uid: str, now: datetime, resolvers: Resolvers, use: StapleUse
) -> None:
    if encoded is None:
        return
    reader: RecordReader | None = resolvers.extra.get(STAPLE_RECORD_READER)
    if reader is None:
        use.problem("staple_unchecked", "no BNS record reader: the stapled record was not read")
        return
    try:
        if not isinstance(encoded, str) or len(encoded) > MAX_RECORD_BYTES * 4 // 3 + 4:
            raise BadgeChainError("bnsRecord is not bounded base64url text", code="staple_invalid")
        record = reader(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError):
        use.problem("staple_invalid", "bnsRecord is not base64url")
        return
    except BadgeChainError as exc:
        code = exc.code if exc.code.startswith("staple_") else "staple_forged"
        use.problem(code, f"the stapled BNS record: {exc.message:.160}")
        return
    if record.uid != uid:
        use.problem("staple_uid_mismatch", "the stapled BNS record is another UID's")
    elif record.signed_at > now + CLOCK_SKEW:
        use.problem("staple_forged", "the stapled BNS record is signed in the future")
    else:
        use.record = record


def list_urls(credential: dict[str, Any]) -> set[str]:
    status = credential.get("credentialStatus")
    entries = status if isinstance(status, list) else [] if status is None else [status]
    urls = {entry.get("statusListCredential") for entry in entries if isinstance(entry, dict)}
    return {url for url in urls if isinstance(url, str)} or ({"?"} if entries else set())
