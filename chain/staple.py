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

import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from . import statuslist
from .badge import issuer_id
from .report import Check, Report
from .resolve import BnsView, Resolvers, Unreachable
from .staple_wire import (
    MAX_RECORD_BYTES,
    MAX_STAPLED_LISTS,
    RECORD_FRESH_S,
    STAPLE_RECORD_READER,
    STAPLE_TYPE,
    RecordReader,
    StapledRecord,
    StapleUse,
    build_staple,
    credential_uid_text,
    list_urls,
    read_staple,
)
from .statuslist import STATUS_LIST_FETCHER, CheckedList

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


class CredentialVerifier(Protocol):
    def __call__(
        self, credential: object, *, now: datetime, resolvers: Resolvers | None = None
    ) -> Report: ...


# -- answering from a staple -------------------------------------------------------------------


def _answering_record(
    use: StapleUse, credential: dict[str, Any], now: datetime
) -> StapledRecord | None:
    """The stapled record if it may answer now: a revocation always; its absence only
    within the bound of the module docstring."""
    record = use.record
    if record is None or record.revoked_at is not None:
        return record
    named = list_urls(credential)
    if named:  # every list the badge names, fresh: a stapled list of another URL says nothing
        return record if named <= set(use.lists) else None
    return record if now < record.signed_at + timedelta(seconds=RECORD_FRESH_S) else None


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
    record = _answering_record(use, credential, now)
    if record is not None:
        changes["bns"] = _bns_fallback(resolvers, use, _record_view(record, credential))
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
    """The report saying what the staple answered, and what was wrong with it: every problem
    is named somewhere, even one that changed nothing (a forged record beside a fresh list
    that answered), so an ignored staple is never silently ignored."""
    checks = [_annotated(check, use) for check in report.checks]
    said = " ".join(check.message for check in checks)
    unsaid = [(code, message) for code, message in use.problems if message not in said]
    where = next(
        (i for i, c in enumerate(checks) if c.name in _STAPLE_CHECKS and c.code != "not_reached"),
        None,
    )
    if unsaid and where is not None:
        told = "; ".join(f"{code}: {message}" for code, message in unsaid)
        check = checks[where]
        checks[where] = dataclasses.replace(
            check, message=f"{check.message}; staple ignored ({told})"
        )
    return dataclasses.replace(report, checks=tuple(checks))


_STAPLE_CHECKS: Final = ("bns", "revocation", "status")  # what a staple can answer


def _annotated(check: Check, use: StapleUse) -> Check:
    if _stapled(check, use):
        until = use.fresh_until
        bound = f", fresh until {until.isoformat()}" if until else ""
        message = f"{check.message} (from the holder's staple{bound})"
        code = "stapled" if check.status == "passed" else check.code
        return dataclasses.replace(check, code=code, message=message)
    if not use.problems or check.name not in _STAPLE_CHECKS:
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
