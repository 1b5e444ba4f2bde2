"""The gateway's verifications: made on every core (node/verifypool.py), and for
GET /verify/{uid} kept and answered again while nothing they depended on has changed.

A kept report is keyed by the badge's bytes (their hash), the UID asked for and the recipient,
and holds what the verification asked the outside world and the answers: the BNS (records,
whether an issuer publishes, badges held here) and status lists (the very checked list, while
this node's cache keeps it fresh). It answers again only while each of those questions gets
the same answer now (each asked of this node's caches, so in microseconds) and until the next
moment the verdict could turn by the clock (a validFrom, validUntil or proof date in the
badge, less and plus the clock skew allowed). A verification that needed anything else
(a did:web document, a fetched document, a linked badge fetched from its location) or that
could not get an answer is not kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from badgechain.bns.errors import NotFound
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import PublicKey
from badgechain.chain.resolve import DidDocumentResolver, Resolvers
from badgechain.chain.statuslist import STATUS_LIST_FETCHER
from badgechain.chain.uid import Uid
from badgechain.chain.verify import CLOCK_SKEW, Report, verify_badge

from .resolvers import (
    BnsAccess,
    BnsAnswer,
    NodeBns,
    VerifierContext,
    VerifyRun,
    node_context,
    verify_with,
)
from .services import Services
from .trust import policy_stamp
from .verifyahead import answers_ahead, note_proven
from .verifypool import ReadyReport, started_pool
from .verifyworker import proven_uid, report_json

__all__ = ["MAX_REPORTS", "REPORT_TTL", "verify_at_gateway", "verify_json_at_gateway"]

REPORT_TTL: Final = timedelta(seconds=60)  # the longest a kept report answers again
MAX_REPORTS: Final = 1024  # reports kept per node (oldest out)
_MAX_NODES: Final = 16  # nodes in this process with kept reports (tests run many)
_MAX_DATES: Final = 256  # dates read from one badge for the clock bounds


@dataclass(slots=True)
class _Trace:
    """What one verification asked and was answered; `kept` False once it cannot be kept."""

    bns: list[tuple[str, bytes, object]] = field(default_factory=list)
    lists: list[tuple[str, object]] = field(default_factory=list)
    badges: list[dict[str, Any]] = field(default_factory=list)
    kept: bool = True


class _TracedBns:
    """A BnsAccess that notes each question and answer into a trace."""

    def __init__(self, inner: BnsAccess, trace: _Trace) -> None:
        self.inner = inner
        self.trace = trace

    async def resolve(self, uid: Uid) -> BnsAnswer:
        try:
            answer = await self.inner.resolve(uid)
        except NotFound:
            self.trace.bns.append(("resolve", uid, None))
            raise
        except BaseException:
            self.trace.kept = False
            raise
        self.trace.bns.append(("resolve", uid, answer))
        return answer

    async def issuer_publishes(self, issuer_key: PublicKey) -> bool:
        try:
            answer = await self.inner.issuer_publishes(issuer_key)
        except BaseException:
            self.trace.kept = False
            raise
        self.trace.bns.append(("publishes", issuer_key, answer))
        return answer

    async def held_badge(self, uid: Uid) -> dict[str, Any] | None:
        held = await self.inner.held_badge(uid)
        if held is None:
            self.trace.kept = False  # fetched from its location next: not asked again here
        else:
            self.trace.badges.append(held)
        self.trace.bns.append(("held", uid, held))
        return held


def _traced_resolvers(resolvers: Resolvers, trace: _Trace) -> Resolvers:
    """`resolvers`, each of the questions no cache here answers marking the trace unkept."""

    def unkept(call: Callable[..., Any]) -> Callable[..., Any]:
        def ask(*args: Any) -> Any:
            trace.kept = False
            return call(*args)

        return ask

    def traced_documents(fetch: DidDocumentResolver) -> DidDocumentResolver:
        def did_document(did: str) -> dict[str, Any] | None:
            if not did.startswith("did:key:"):  # did:key documents are the key itself
                trace.kept = False
            return fetch(did)

        return did_document

    def status_list(url: str) -> object:
        try:
            checked = resolvers.extra[STATUS_LIST_FETCHER](url)
        except BaseException:
            trace.kept = False
            raise
        trace.lists.append((url, checked))
        return checked

    extra = dict(resolvers.extra)
    if STATUS_LIST_FETCHER in extra:
        extra[STATUS_LIST_FETCHER] = status_list
    for key, value in resolvers.extra.items():
        if key != STATUS_LIST_FETCHER and callable(value):
            extra[key] = unkept(value)
    did_documents = resolvers.did_documents
    return dataclasses.replace(
        resolvers,
        did_documents=traced_documents(did_documents) if did_documents else None,
        documents=unkept(resolvers.documents) if resolvers.documents else None,
        status=unkept(resolvers.status) if resolvers.status else None,
        extra=extra,
    )


def _dates(value: object, budget: list[int]) -> Iterator[datetime]:
    """The date-times written in a badge (any string that reads as one, with a zone)."""
    if budget[0] <= 0:
        return
    if isinstance(value, str) and 10 <= len(value) <= 40 and value[:1].isdigit():
        budget[0] -= 1
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return
        if moment.tzinfo is not None:
            yield moment
    elif isinstance(value, dict):
        for item in value.values():
            yield from _dates(item, budget)
    elif isinstance(value, list):
        for item in value:
            yield from _dates(item, budget)


def _stable_until(report: Report, trace: _Trace, now: datetime) -> datetime:
    """The next moment a check could turn by the clock alone, at most REPORT_TTL away."""
    budget = [_MAX_DATES]
    until = now + REPORT_TTL
    for badge in (report.credential, *trace.badges):
        for moment in _dates(badge, budget):
            for edge in (moment - CLOCK_SKEW, moment, moment + CLOCK_SKEW):
                if now < edge < until:
                    until = edge
    if budget[0] <= 0:
        return now  # too many dates to reason about: not kept
    return until


@dataclass(frozen=True, slots=True)
class _Kept:
    report: Report
    trace: _Trace
    until: datetime


class _Reports:
    """One node's kept reports."""

    def __init__(self) -> None:
        self.kept: OrderedDict[bytes, _Kept] = OrderedDict()

    def put(self, key: bytes, kept: _Kept) -> None:
        self.kept[key] = kept
        self.kept.move_to_end(key)
        while len(self.kept) > MAX_REPORTS:
            self.kept.popitem(last=False)


_reports: OrderedDict[str, _Reports] = OrderedDict()


def _reports_of(node: Services) -> _Reports:
    name = f"{node.did} {node.home}"
    reports = _reports.get(name)
    if reports is None:
        reports = _reports[name] = _Reports()
        while len(_reports) > _MAX_NODES:
            _reports.popitem(last=False)
    return reports


async def _still_true(node: Services, trace: _Trace, now: datetime) -> bool:
    """Whether every question of `trace` gets the answer it got then."""
    bns = NodeBns(node)
    for kind, key, answer in trace.bns:
        try:
            if kind == "resolve":
                current: object = await bns.resolve(Uid(key))
            elif kind == "publishes":
                current = await bns.issuer_publishes(PublicKey(key))
            else:
                current = await bns.held_badge(Uid(key))
        except NotFound:
            current = None
        except BadgeChainError:
            return False
        if current != answer:
            return False
    for url, checked in trace.lists:
        cached = node.status_cache.lists.get(url)
        if getattr(cached, "checked", None) is not checked:
            return False
        if not now < getattr(cached, "fresh_until", now):
            return False
    return True


def _key(data: bytes, expected_uid: str | None, recipient: str | None) -> bytes:
    asked = f"{expected_uid or ''}\n{recipient or ''}\n".encode()
    return hashlib.sha256(asked + data).digest()


async def verify_at_gateway(
    node: Services,
    data: bytes,
    expected_uid: str | None = None,
    *,
    recipient: str | None = None,
    keep: bool = False,
) -> Report:
    """The report on `data`, made in a worker process; with `keep`, a kept report while it
    still holds, and the new one kept when it may be."""
    now = node.clock()
    key = _key(data, expected_uid, recipient) + policy_stamp(node.home)  # trust edits
    reports = _reports_of(node)
    if keep:
        kept = reports.kept.get(key)
        if kept is not None and now < kept.until and await _still_true(node, kept.trace, now):
            return kept.report
    trace = _Trace()
    context = _traced_context(node, trace)
    run = _runner(trace, context)
    report = await verify_with(context, data, expected_uid, recipient=recipient, run=run)
    if keep and trace.kept and report.format == "json" and isinstance(report.credential, dict):
        until = _stable_until(report, trace, now)
        if now < until:
            reports.put(key, _Kept(report, trace, until))
    return report


async def verify_json_at_gateway(
    node: Services, data: bytes, *, recipient: str | None = None
) -> ReadyReport:
    """POST /verify's answer: the report on `data` as JSON bytes, made (and, in a worker
    process, serialised) as verify_at_gateway makes it, never kept."""
    trace = _Trace()
    context = _traced_context(node, trace)
    return await verify_with(context, data, recipient=recipient, run=_json_runner(trace, context))


def _traced_context(node: Services, trace: _Trace) -> VerifierContext:
    return node_context(node, bns=_TracedBns(NodeBns(node), trace))


def _in_thread(data: bytes, now: datetime, resolvers: Resolvers, *asked: str | None) -> Report:
    expected_uid, recipient = asked
    return verify_badge(
        data, now=now, resolvers=resolvers, expected_uid=expected_uid, recipient=recipient
    )


def _runner(trace: _Trace, context: VerifierContext) -> VerifyRun:
    """How verify_with runs chain.verify: in the shared pool, or (no pool) in a thread."""

    async def run(
        data: bytes,
        now: datetime,
        resolvers: Resolvers,
        expected_uid: str | None,
        recipient: str | None,
    ) -> Report:
        traced = _traced_resolvers(resolvers, trace)
        pool = await started_pool()
        if pool is None:
            return await asyncio.to_thread(_in_thread, data, now, traced, expected_uid, recipient)
        answers = await answers_ahead(context, data, lambda *seen: trace.lists.append(seen))
        report = await pool.verify(data, now, traced, expected_uid, recipient, answers=answers)
        note_proven(proven_uid(report))
        return report

    return run


def _json_runner(
    trace: _Trace, context: VerifierContext
) -> Callable[[bytes, datetime, Resolvers, str | None, str | None], Awaitable[ReadyReport]]:
    """As `_runner`, for the report's JSON: made into bytes in the worker process."""

    async def run(
        data: bytes,
        now: datetime,
        resolvers: Resolvers,
        expected_uid: str | None,
        recipient: str | None,
    ) -> ReadyReport:
        traced = _traced_resolvers(resolvers, trace)
        pool = await started_pool()
        if pool is None:
            report = await asyncio.to_thread(_in_thread, data, now, traced, expected_uid, recipient)
            return ReadyReport(*report_json(report))
        answers = await answers_ahead(context, data, lambda *seen: trace.lists.append(seen))
        ready = await pool.verify_json(data, now, traced, expected_uid, recipient, answers=answers)
        note_proven(ready.proven_uid)
        return ready

    return run
