"""Verification on every core: worker processes run chain.verify.

chain.verify is pure CPU under the GIL, so threads of one process verify one badge at a
time. Here each verification is sent to a worker process; every question it asks of the
outside world (the BNS, a DID document, a status list) comes back over the pipe to the thread
that sent the job, which answers it with that verification's own resolvers, exactly as they
answer a verification run in a thread. So the report is the same wherever it was made.

A worker verifies several jobs at once, each in a thread of its own, so a job waiting for an
answer (a DHT lookup that times out) does not leave the core idle or hold up other jobs. A
worker that dies mid-job is replaced, and the report of each job it had says
`internal_error` (the gateway's 503 verifier_unavailable), as a crash inside the verifier
always did. Jobs beyond `max_jobs` (or `max_bytes` of badges) waiting or running are answered
the same way at once: the queue is bounded.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import itertools
import logging
import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

from badgechain.chain.contexts import local_contexts
from badgechain.chain.resolve import Resolvers
from badgechain.chain.verify import CHECK_NAMES, Check, Report, verify_badge

from .verifyworker import EXTRA, THREADS_PER_WORKER, Answers, Link, report_json, worker_main

log = logging.getLogger(__name__)

__all__ = [
    "WORKERS_ENV",
    "ReadyReport",
    "VerifyPool",
    "configured_workers",
    "shared_pool",
    "started_pool",
]

# How many worker processes a node verifies with: unset, one per core but the one the node's
# own process keeps busy (HTTP, the DHT, answering the workers' questions), at least one;
# 0, none (verify in
# a thread of the node's process, as before the pool).
WORKERS_ENV: Final = "BADGECHAIN_VERIFY_WORKERS"
# Jobs waiting or running in the pool, and the bytes of their badges, before new ones are
# refused: a burst of small badges waits (a 200-request burst of one client is not refused),
# large images do not pile up (each is in memory here and in its worker).
MAX_JOBS: Final = 256
MAX_JOB_BYTES: Final = 64 * 1024 * 1024
_DEFAULT_WORKERS: Final = max(1, (os.cpu_count() or 1) - 1)


class CannotTravel(Exception):
    """A request that does not pickle (a resolver given as data that pickle cannot carry)."""


class WorkerGone(Exception):
    """The worker's end of the pipe closed: the process died."""


def configured_workers() -> int:
    """Worker processes to verify with, from WORKERS_ENV (default: cores less one)."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text.isdigit():
        return min(int(text), 64)
    return _DEFAULT_WORKERS


def _internal_error_report(message: str) -> Report:
    """What a verifier that could not finish answers: nothing about the badge (issue 17)."""
    checks = [Check("input", "failed", "internal_error", message)]
    checks += [Check(name, "skipped", "not_reached", "not checked") for name in CHECK_NAMES[1:]]
    return Report("invalid", None, "unknown", tuple(checks))


# --- the parent -----------------------------------------------------------------------------


def _shape(resolvers: Resolvers) -> dict[str, Any]:
    """What the worker needs to rebuild `resolvers`: "call" for each callable, else the value."""
    shape: dict[str, Any] = {}
    for item in fields(resolvers):
        value = getattr(resolvers, item.name)
        if item.name == "extra":
            shape["extra"] = {k: "call" if callable(v) else v for k, v in value.items()}
        else:
            shape[item.name] = "call" if callable(value) else value
    return shape


_FIELDS: Final = frozenset(item.name for item in fields(Resolvers)) - {"extra"}


def _resolver(resolvers: Resolvers, name: str) -> Callable[..., Any]:
    found: object
    if name.startswith(EXTRA):
        found = resolvers.extra.get(name[len(EXTRA) :])
    else:
        found = getattr(resolvers, name, None) if name in _FIELDS else None
    if not callable(found):
        raise RuntimeError(f"the worker asked for no such resolver: {name:.60}")
    call: Callable[..., Any] = found
    return call


def _portable(exc: Exception) -> Exception:
    """`exc` if it survives the pipe, else a RuntimeError the verifier reports as internal."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 (our own bytes, a moment old)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}"[:500])
    return exc


@dataclass(frozen=True, slots=True)
class ReadyReport:
    """A report made in a worker as the gateway sends it: its JSON bytes, and whether our
    verifier failed inside (a check with `internal_error`: the gateway's 503)."""

    body: bytes
    failed_inside: bool
    proven_uid: str | None  # the badge's UID, when its issuer proof verified


# What a worker sends back for a job: a Report, or its JSON (`report_json`).
_Outcome = Report | tuple[bytes, bool, str | None]


@dataclass(frozen=True, slots=True)
class _Failed:
    """A job no worker finished: its worker stopped, or the queue was full."""

    message: str


@dataclass(frozen=True, slots=True)
class _Job:
    """A job a worker has in hand: where its report goes, and who answers its questions."""

    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[_Outcome]
    resolvers: Resolvers

    def settle(self, outcome: _Outcome | BaseException) -> None:
        """Hand the outcome to the waiting coroutine (from any thread)."""
        with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits
            self.loop.call_soon_threadsafe(_settle, self.done, outcome)


class _Worker:
    """One worker process and the parent's end of its pipe. Requests are sent from the event
    loop, those made in one turn of it in one message; a reader thread settles each job's
    report and hands each question to a pool thread, which answers it with the job's
    resolvers (they wait on the loop)."""

    def __init__(
        self,
        context: Any,
        calls: queue.SimpleQueue[Callable[[], None] | None],
        on_gone: Callable[[_Worker], None],
    ) -> None:
        conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()  # only the worker holds its end: its death closes the pipe
        self.link = Link(conn)
        self.jobs: dict[int, _Job] = {}
        self.gone = False
        self._calls = calls
        self._on_gone = on_gone
        self._contexts: Mapping[str, bytes] = {}  # the local contexts the worker was sent
        self._pending: list[tuple[int, bytes]] = []  # requests not yet sent, pickled
        self._pending_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True, name="verify-reader")
        self._reader.start()

    def submit(self, number: int, job: _Job, request: tuple[Any, ...]) -> None:
        """Queue a request (on the event loop) to go with the others of this turn of the
        loop; its outcome settles `job.done`."""
        if self.gone:
            raise WorkerGone
        try:
            pickled = pickle.dumps((number, *request), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise CannotTravel(str(exc)) from exc
        self.jobs[number] = job
        with self._pending_lock:
            first = not self._pending
            self._pending.append((number, pickled))
        if first:
            job.loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Send the queued requests in one message (one write, one wake-up of the worker)."""
        with self._pending_lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self._send_contexts()
            self.link.send(("verify", [pickled for _, pickled in batch]))
        except (OSError, EOFError):  # BrokenPipeError included: the reader settles them
            for number, _ in batch:
                job = self.jobs.pop(number, None)
                if job is not None:
                    job.settle(WorkerGone())

    def _send_contexts(self) -> None:
        local = local_contexts()
        if local is not self._contexts:  # contexts were added here since the last job
            self._contexts = local
            self.link.send(("contexts", dict(local)))

    def _read(self) -> None:
        while True:
            try:
                kind, number, *rest = self.link.conn.recv()
            except (EOFError, OSError):
                break
            job = self.jobs.get(number)
            if job is None:
                continue
            if kind == "call":
                name, args = rest
                self._calls.put(functools.partial(self._answer, job, number, name, args))
                continue
            self.jobs.pop(number, None)
            if kind == "done":
                job.settle(rest[0])
            else:  # an exception that escaped verify_badge: a bug, as it was in a thread
                job.settle(RuntimeError(f"the verifier failed: {rest[0]}"))
        self.gone = True
        for number in list(self.jobs):
            job = self.jobs.pop(number, None)
            if job is not None:
                job.settle(WorkerGone())
        self._on_gone(self)

    def _answer(self, job: _Job, number: int, name: str, args: tuple[Any, ...]) -> None:
        try:
            value = _resolver(job.resolvers, name)(*args)
            reply: tuple[str, int, Any] = ("answer", number, value)
        except Exception as exc:  # the resolver's error is the verification's to report
            reply = ("raise", number, _portable(exc))
        try:
            try:
                self.link.send(reply)
            except pickle.PicklingError as exc:
                error = RuntimeError(f"an answer that cannot travel: {exc}")
                self.link.send(("raise", number, error))
        except (OSError, EOFError):
            pass  # the worker died: the reader settles its jobs

    def stop(self) -> None:
        self.link.conn.close()
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class VerifyPool:
    """`workers` processes verifying; each job goes to the worker with the fewest in hand."""

    def __init__(
        self, workers: int, *, max_jobs: int = MAX_JOBS, max_bytes: int = MAX_JOB_BYTES
    ) -> None:
        self.size = workers
        self.max_jobs = max_jobs
        self.max_bytes = max_bytes
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["badgechain.node.verifyworker"])
        # The workers' questions are answered on these threads: the resolvers wait on the
        # event loop (the DHT, the network). A worker's job threads ask one question at a
        # time each; twice that many, for a worker replaced while its questions are answered.
        # Daemons, so none holds up exit.
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve_calls, daemon=True, name=f"verify-{n}")
            for n in range(2 * workers * THREADS_PER_WORKER)
        ]
        for thread in self._threads:
            thread.start()
        self._lock = threading.Lock()
        self._workers = [self._start_worker() for _ in range(workers)]
        self._jobs = 0
        self._bytes = 0
        self._numbers = itertools.count()

    def _start_worker(self) -> _Worker:
        return _Worker(self._context, self._calls, self._replace)

    async def verify(
        self,
        data: bytes,
        now: datetime,
        resolvers: Resolvers,
        expected_uid: str | None,
        recipient: str | None,
        *,
        answers: Answers | None = None,
    ) -> Report:
        """chain.verify.verify_badge's report, made in a worker process. `answers`: what
        some resolver calls return, known here already (the worker does not ask them)."""
        request = (data, now, expected_uid, recipient, resolvers, answers or {})
        outcome = await self._run(request, as_json=False)
        if isinstance(outcome, _Failed):
            return _internal_error_report(outcome.message)
        return outcome if isinstance(outcome, Report) else _internal_error_report("no report")

    async def verify_json(
        self,
        data: bytes,
        now: datetime,
        resolvers: Resolvers,
        expected_uid: str | None,
        recipient: str | None,
        *,
        answers: Answers | None = None,
    ) -> ReadyReport:
        """As `verify`, the report made into the gateway's JSON answer in the worker too."""
        request = (data, now, expected_uid, recipient, resolvers, answers or {})
        outcome = await self._run(request, as_json=True)
        if isinstance(outcome, _Failed):
            return ReadyReport(*report_json(_internal_error_report(outcome.message)))
        if isinstance(outcome, Report):  # made here: its resolvers could not travel
            return ReadyReport(*report_json(outcome))
        return ReadyReport(*outcome)

    async def _run(self, request: tuple[Any, ...], *, as_json: bool) -> _Outcome | _Failed:
        """A job's outcome (a report made here when it cannot go to a worker), or _Failed."""
        data, now, expected_uid, recipient, resolvers, answers = request
        size = len(data)
        with self._lock:
            too_large = self._jobs > 0 and self._bytes + size > self.max_bytes
            if self._jobs >= self.max_jobs or too_large:
                return _Failed("the verifier is busy; try again")
            self._jobs += 1
            self._bytes += size
            worker = min(self._workers, key=lambda w: len(w.jobs))
            number = next(self._numbers)
        try:
            loop = asyncio.get_running_loop()
            job = _Job(loop, loop.create_future(), resolvers)
            sent = (data, now, expected_uid, recipient, _shape(resolvers), answers, as_json)
            try:
                worker.submit(number, job, sent)
                return await job.done
            except WorkerGone:
                return _Failed("the verifier process stopped; try again")
            except CannotTravel as exc:  # a resolver given as data that pickle cannot carry
                log.warning("verifying in the node: the request cannot reach a worker (%s)", exc)
                return await asyncio.to_thread(
                    verify_badge,
                    data,
                    now=now,
                    resolvers=resolvers,
                    expected_uid=expected_uid,
                    recipient=recipient,
                )
        finally:
            with self._lock:
                self._jobs -= 1
                self._bytes -= size

    def _replace(self, gone: _Worker) -> None:
        """Called by a dead worker's reader thread: a fresh worker takes its place."""
        with self._lock:
            if gone not in self._workers:
                return  # closing
            log.error("a verifier process stopped (exit code %s)", gone.process.exitcode)
            fresh = self._start_worker()
            self._workers = [fresh if w is gone else w for w in self._workers]
        gone.stop()

    def pids(self) -> list[int]:
        """The worker processes' ids (tests, and the memory benchmark)."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def _serve_calls(self) -> None:
        while (call := self._calls.get()) is not None:
            call()

    def close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for _ in self._threads:
            self._calls.put(None)
        for worker in workers:
            worker.stop()


def _settle(done: asyncio.Future[_Outcome], outcome: _Outcome | BaseException) -> None:
    if done.cancelled():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


_shared: VerifyPool | None = None
_shared_lock = threading.Lock()


def shared_pool() -> VerifyPool | None:
    """This process's pool (started on first use), or None when WORKERS_ENV says 0."""
    global _shared
    workers = configured_workers()
    if workers == 0:
        return None
    with _shared_lock:
        if _shared is None:
            _shared = VerifyPool(workers)
            atexit.register(_shared.close)
        return _shared


async def started_pool() -> VerifyPool | None:
    """`shared_pool()` without holding up the event loop while the workers start."""
    if configured_workers() == 0:
        return None
    return _shared if _shared is not None else await asyncio.to_thread(shared_pool)
