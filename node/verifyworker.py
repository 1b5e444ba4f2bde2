"""The worker side of node/verifypool.py: a process that verifies the jobs its pipe brings.

Each job runs in one of THREADS_PER_WORKER long-lived threads; every question the
verification asks of the outside world goes back over the pipe (named as in `Resolvers`, or
EXTRA + key for `Resolvers.extra`) and waits for the node's answer, unless the job came with
that answer (the node answers the common questions from its caches before sending the job).
A job asked `as_json` comes back as the report's JSON bytes, ready to send, not as a Report.
"""

from __future__ import annotations

import json
import logging
import pickle
import queue
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any, Final

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.contexts import add_local_contexts
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import sign_credential
from badgechain.chain.resolve import BnsView, Resolvers
from badgechain.chain.statuslist import CheckedList
from badgechain.chain.verify import Report, verify_badge

log = logging.getLogger(__name__)

__all__ = [
    "EXTRA",
    "MAX_KEPT_LISTS",
    "THREADS_PER_WORKER",
    "Answers",
    "Link",
    "Travelling",
    "keep_list",
    "now_from_wire",
    "now_to_wire",
    "proven_uid",
    "report_json",
    "worker_main",
]

THREADS_PER_WORKER: Final = 4  # jobs a worker has under way at once (the others wait)
EXTRA: Final = "extra:"  # how a resolver in Resolvers.extra is named on the pipe
# The jobs of a worker take turns on its core: one verifies at a time and hands the turn on
# while it waits for an answer from the node. Without turns the job threads contend for the
# GIL at every call that releases it (Ed25519, hashing): 26 futex calls a job, 10 with turns.
_TURN: Final = threading.Lock()
# Answers a job brings: (resolver name, its arguments) -> the value it returns.
Answers = dict[tuple[str, tuple[Any, ...]], Any]
# Status lists a worker keeps (one version a URL, oldest out), so the node sends a list's
# 16 KiB bitstring once, not with every job; the node keeps the same table for each worker.
MAX_KEPT_LISTS: Final = 64


_Question = tuple[str, tuple[Any, ...]]
# Answers as they travel, in plain tuples (a slotted dataclass pickles through Python code):
# the other answers; BnsViews as their fields; status lists to keep, (token, list); status
# lists the worker keeps, (URL, token).
Travelling = tuple[
    Answers,
    dict[_Question, tuple[Any, ...]],
    dict[_Question, tuple[int, CheckedList]],
    dict[_Question, tuple[str, int]],
]
_Kept = dict[str, tuple[int, CheckedList]]  # a worker's kept lists: URL -> (token, list)


def now_to_wire(now: datetime) -> tuple[datetime, bool]:
    """`now` as it travels: a UTC time without its tzinfo (pickled in C, not through the
    timezone's reduce), and whether it was UTC."""
    return (now.replace(tzinfo=None), True) if now.tzinfo is UTC else (now, False)


def now_from_wire(now: datetime, utc: bool) -> datetime:
    return now.replace(tzinfo=UTC) if utc else now


def keep_list(kept: dict[str, tuple[int, Any]], url: str, token: int, value: Any) -> None:
    """Keep `value` for `url` (the node and the worker do the same, in the same order)."""
    kept.pop(url, None)
    kept[url] = (token, value)
    while len(kept) > MAX_KEPT_LISTS:
        del kept[next(iter(kept))]


def _unpacked(travelling: Travelling, kept: _Kept) -> Answers:
    """The answers in hand; a status list whose kept version this worker does not hold (a
    different token) is left out, so the job asks the node for it."""
    plain, views, new, named = travelling
    answers = dict(plain)
    for key, fields in views.items():
        answers[key] = BnsView(*fields)
    for key, (token, checked) in new.items():
        keep_list(kept, checked.url, token, checked)
        answers[key] = checked
    for key, (url, token) in named.items():
        held = kept.get(url)
        if held is not None and held[0] == token:
            answers[key] = held[1]
    return answers


def report_json(report: Report) -> tuple[bytes, bool, str | None]:
    """The report as the gateway sends it, whether our verifier failed inside (a 503), and
    the badge's UID when its issuer proof verified (`proven_uid`)."""
    body = json.dumps(report.to_json(), ensure_ascii=False).encode()
    return body, any(check.code == "internal_error" for check in report.checks), proven_uid(report)


def proven_uid(report: Report) -> str | None:
    """The UID of a badge whose issuer proof verified (node/verifyahead.py looks it up ahead
    next time)."""
    proof = next((check for check in report.checks if check.name == "proof"), None)
    return report.uid if proof is not None and proof.status == "passed" else None


def _warm() -> None:
    """Load the pinned JSON-LD contexts and run every step once, so the first job is not slow."""
    key = KeyPair.from_seed(bytes(32))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    achievement = build_achievement(
        key.did, achievement_id="urn:uuid:0", name="warm", description="warm", criteria="warm"
    )
    credential = build_credential(
        issuer_did=key.did,
        subject_id=key.did,
        achievement=achievement,
        valid_from=now,
        credential_id="urn:uuid:1",
    )
    data = json.dumps(sign_credential(credential, key, created=now)).encode()
    verify_badge(data, now=now)


class Link:
    """One end of a pipe shared by the threads of many jobs: sends are whole messages."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, message: object) -> None:
        with self._lock:
            self.conn.send(message)


def _asker(
    link: Link,
    answers: queue.SimpleQueue[tuple[str, Any]],
    job: int,
    name: str,
    known: Answers,
) -> Callable[..., Any]:
    def ask(*args: Any) -> Any:
        if known:
            try:
                return known[(name, args)]  # answered before the job was sent
            except (KeyError, TypeError):  # not answered (or an argument no dict keys)
                pass
        _TURN.release()  # another job computes while this one waits
        try:
            link.send(("call", job, name, args))
            kind, value = answers.get()
        finally:
            _TURN.acquire()
        if kind == "raise":
            raise value
        return value

    return ask


def _proxies(
    link: Link,
    answers: queue.SimpleQueue[tuple[str, Any]],
    job: int,
    shape: dict[str, Any],
    known: Answers,
) -> Resolvers:
    """Resolvers whose callables ask the parent; data (a trust policy) travels as it is."""
    values: dict[str, Any] = {
        name: _asker(link, answers, job, name, known) if value == "call" else value
        for name, value in shape.items()
        if name != "extra"
    }
    extra = {
        key: _asker(link, answers, job, EXTRA + key, known) if value == "call" else value
        for key, value in shape["extra"].items()
    }
    return Resolvers(**values, extra=extra)


_Waiting = dict[int, queue.SimpleQueue[tuple[str, Any]]]  # each job's answers, by job number


def _verify_job(link: Link, waiting: _Waiting, job: int, *request: Any) -> None:
    """One job, in a thread of the worker: its report, or why verify_badge raised."""
    data, now, utc, expected_uid, recipient, shape, as_json, known = request
    try:
        report = verify_badge(
            data,
            now=now_from_wire(now, utc),
            resolvers=_proxies(link, waiting[job], job, shape, known),
            expected_uid=expected_uid,
            recipient=recipient,
        )
        outcome: object = report_json(report) if as_json else report
    except Exception as exc:  # verify_badge reports every check's error itself
        link.send(("error", job, f"{type(exc).__name__}: {exc}"[:500]))
        return
    finally:
        waiting.pop(job, None)
    link.send(("done", job, outcome))


def _job_thread(link: Link, jobs: queue.SimpleQueue[tuple[Any, ...]]) -> None:
    try:
        _warm()  # this thread's memo tables (chain.jsonld): the first job is not slow
    except Exception:  # a broken warm-up must not stop verification: the jobs will tell
        log.exception("warming the verifier failed")
    while True:
        request = jobs.get()
        with _TURN:
            _verify_job(*request)


def worker_main(conn: Connection) -> None:
    """A worker's life: warm up, then verify each job sent until the pipe closes. Jobs run
    in THREADS_PER_WORKER threads, so one waiting for an answer (a DHT lookup) does not hold
    up the others: the worker's core stays busy while any job has work."""
    # Ctrl-C in a terminal reaches the whole process group: the node stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    link = Link(conn)
    waiting: _Waiting = {}
    kept: _Kept = {}
    # Long-lived job threads: chain's JSON-LD memo tables are per thread, so a thread per
    # job would start cold every time (ten times slower).
    jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    for _ in range(THREADS_PER_WORKER):
        threading.Thread(target=_job_thread, args=(link, jobs), daemon=True).start()
    while True:
        try:
            kind, *message = conn.recv()
        except (EOFError, OSError):
            return
        if kind == "contexts":  # the node's local contexts (chain.contexts), added since
            add_local_contexts(message[0])
        elif kind == "verify":  # jobs the node sent together, each pickled on its own
            for pickled in message[0]:
                job, *request, known = pickle.loads(pickled)  # noqa: S301 (our node's bytes)
                waiting[job] = queue.SimpleQueue()
                jobs.put((link, waiting, job, *request, _unpacked(known, kept)))
        else:  # "answer" or "raise", to the job that asked
            job, value = message
            if job in waiting:
                waiting[job].put((kind, value))
