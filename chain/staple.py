"""Stapled status (issue 14 item 2): what a holder attaches to a badge so that a verifier
without the network still gets a revocation answer that others signed.

A staple carries, for one UID, the issuer-signed status list credential(s) the badge's
`credentialStatus` names and the latest BNS record of the UID (its wire bytes: the issuer's
entry and any revocation are the issuer's signatures). The holder cannot forge either; it
can only offer an old one, so freshness is bounded (docs/presentations.md):

- a stapled list (one the badge names, by the badge's issuer) answers while
  `validFrom - 5 min <= now < min(validUntil, validFrom + ttl)`;
- the record's issuer-signed times (entry `created`, revocation `revokedAt`) must not be
  in the future; a revocation in it holds for good, even against a network answer that
  lacks it; its *absence* of a revocation counts only while fresh stapled lists cover every
  list the badge names, or, for a badge without a status entry, for RECORD_FRESH_S after
  the record's latest issuer-signed time.

Pure: the BNS record is decoded by a `RecordReader` the caller passes in `Resolvers.extra`
(bns/ sits above chain/). Otherwise a staple is only a fallback: a resolver that answers wins.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from . import statuslist
from .badge import issuer_id
from .errors import BadgeChainError
from .proof import proof_list
from .report import Check, Report
from .resolve import BnsView, Resolvers, Unreachable
from .statuslist import STATUS_LIST_FETCHER, CheckedList, StatusListError

__all__ = [
    "MAX_RECORD_BYTES",
    "MAX_STAPLED_LISTS",
    "RECORD_FRESH_S",
    "STAPLE_RECORD_READER",
    "STAPLE_TYPE",
    "CredentialVerifier",
    "RecordReader",
    "StapleUse",
    "StapledRecord",
    "annotate",
    "build_staple",
    "credential_uid_text",
    "read_staple",
    "stapled_resolvers",
    "verify_with_staple",
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


class CredentialVerifier(Protocol):
    def __call__(
        self, credential: object, *, now: datetime, resolvers: Resolvers | None = None
    ) -> Report: ...


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
    named = _list_urls(credential)
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


# -- answering from a staple -------------------------------------------------------------------


def _record_answers(use: StapleUse, credential: dict[str, Any], now: datetime) -> bool:
    """Whether the stapled record may answer now: a revocation always; its absence only
    within the bound of the module docstring."""
    record = use.record
    if record is None:
        return False
    if record.revoked_at is not None:
        return True
    named = _list_urls(credential)
    if named:  # every list the badge names, fresh: a stapled list of another URL says nothing
        return named <= set(use.lists)
    return now < record.signed_at + timedelta(seconds=RECORD_FRESH_S)


def _list_urls(credential: dict[str, Any]) -> set[str]:
    status = credential.get("credentialStatus")
    entries = status if isinstance(status, list) else [] if status is None else [status]
    urls = {entry.get("statusListCredential") for entry in entries if isinstance(entry, dict)}
    return {url for url in urls if isinstance(url, str)} or ({"?"} if entries else set())


def _record_view(record: StapledRecord, credential: dict[str, Any]) -> BnsView:
    # The entry names the issuer by key (a did:key). The record's UID is checked to be that
    # key's signature, and the verifier checks the same UID as the proof of the credential's
    # issuer: a did:web issuer's key is therefore the entry's, as the online resolver finds
    # through the DID document.
    issuer = issuer_id(credential)
    named = issuer if not issuer.startswith("did:key:") else record.issuer_did
    return BnsView(
        uid=record.uid,
        issuer_did=named,
        earner=record.earner_did,
        revoked=record.revoked_at is not None,
        revocation_reason=record.reason,
    )


def stapled_resolvers(
    resolvers: Resolvers, use: StapleUse, credential: dict[str, Any], now: datetime
) -> Resolvers:
    """`resolvers` with the staple as the fallback of the BNS and of the status lists: asked
    only when the resolver itself is absent or cannot answer (Unreachable)."""
    changes: dict[str, Any] = {}
    if _record_answers(use, credential, now):
        assert use.record is not None
        changes["bns"] = _bns_fallback(resolvers, use, _record_view(use.record, credential))
        if resolvers.bns is None:  # offline: other badges (a linked persona) are not asked
            changes["bns_publishes"] = _unknown_publisher
    if use.lists:
        extra = dict(resolvers.extra)
        extra[STATUS_LIST_FETCHER] = _list_fallback(resolvers, use)
        changes["extra"] = extra
    return dataclasses.replace(resolvers, **changes) if changes else resolvers


def _bns_fallback(
    resolvers: Resolvers, use: StapleUse, view: BnsView
) -> Callable[[str], BnsView | None]:
    ask = resolvers.bns

    def bns(uid: str) -> BnsView | None:
        if ask is not None:
            try:
                answer = ask(uid)
            except Unreachable:
                answer = None
            else:  # a revocation the issuer signed holds even where the network lacks it
                if answer is None or answer.revoked or uid != view.uid or not view.revoked:
                    return answer
        if uid != view.uid:  # a linked badge's: the staple says nothing of it
            raise Unreachable("the BNS was not asked; the staple is another badge's")
        use.answered.add("bns")
        return view

    return bns


def _unknown_publisher(signer_did: str) -> bool:
    raise Unreachable(f"offline: whether {signer_did:.60} publishes to the BNS is not known")


def _list_fallback(resolvers: Resolvers, use: StapleUse) -> statuslist.StatusListFetcher:
    fetch: statuslist.StatusListFetcher | None = resolvers.extra.get(STATUS_LIST_FETCHER)

    def status_list(url: str) -> dict[str, Any] | CheckedList | None:
        if fetch is not None:
            try:
                return fetch(url)
            except Unreachable:
                pass
        stapled = use.lists.get(url)
        if stapled is None:
            raise Unreachable(
                f"no answer for the status list {url:.100}", code="status_list_unavailable"
            )
        use.answered.add("status")
        return stapled

    return status_list


def _stapled(check: Check, use: StapleUse) -> bool:
    """Whether the staple gave the answer this check rests on."""
    if check.name in use.answered:
        return True
    by_record = "bns" in use.answered
    return by_record and (check.name == "revocation" or check.code == "bns_answered")


# -- the report --------------------------------------------------------------------------------


def annotate(report: Report, use: StapleUse) -> Report:
    """The report saying what the staple answered, and what was wrong with it."""
    checks = [_annotated(check, use) for check in report.checks]
    return dataclasses.replace(report, checks=tuple(checks))


def _annotated(check: Check, use: StapleUse) -> Check:
    if _stapled(check, use):
        until = use.fresh_until
        bound = f", fresh until {until.isoformat()}" if until else ""
        message = f"{check.message} (from the holder's staple{bound})"
        code = "stapled" if check.status == "passed" else check.code
        return dataclasses.replace(check, code=code, message=message)
    if not use.problems or check.name not in ("bns", "revocation", "status"):
        return check
    code, message = use.problems[0]
    if check.status == "skipped" and check.blocking:  # the staple could have answered
        return dataclasses.replace(
            check, code=code, message=f"{check.message}; staple ignored: {message}"
        )
    if check.name == "status":
        return dataclasses.replace(
            check, message=f"{check.message}; staple ignored ({code}): {message}"
        )
    return check


def verify_with_staple(
    credential: dict[str, Any],
    staple: object,
    now: datetime,
    resolvers: Resolvers,
    verify_credential: CredentialVerifier,
) -> Report:
    """The credential verified with `staple` as the fallback answer; the report says so."""
    if staple is None:
        return verify_credential(credential, now=now, resolvers=resolvers)
    use = read_staple(staple, credential, now=now, resolvers=resolvers)
    wrapped = stapled_resolvers(resolvers, use, credential, now)
    return annotate(verify_credential(credential, now=now, resolvers=wrapped), use)
