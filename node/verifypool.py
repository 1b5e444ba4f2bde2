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
import itertools
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from badgechain.chain.resolve import Resolvers
from badgechain.chain.verify import CHECK_NAMES, Check, Report, verify_badge

from .verifypipe import CannotTravel, Failed, Job, Outcome, Worker, WorkerGone, resolver_shape
from .verifyworker import THREADS_PER_WORKER, Answers, now_to_wire, report_json

log = logging.getLogger(__name__)

__all__ = [
    "WORKERS_ENV",
    "ReadyReport",
    "VerifyPool",
    "configured_workers",
    "shared_pool",
    "started_pool",
]

# How many worker processes a node verifies with: unset, one per core (the node's own share
# of a verification, HTTP and the questions it answers, is a fraction of a worker's, so a
# worker beside it on every core does more than one core left to the node); 0, none (verify
# in a thread of the node's process, as before the pool).
WORKERS_ENV: Final = "BADGECHAIN_VERIFY_WORKERS"
# Jobs waiting or running in the pool, and the bytes of their badges, before new ones are
# refused: a burst of small badges waits (a 200-request burst of one client is not refused),
# large images do not pile up (each is in memory here and in its worker).
MAX_JOBS: Final = 256
MAX_JOB_BYTES: Final = 64 * 1024 * 1024
_DEFAULT_WORKERS: Final = max(1, os.cpu_count() or 1)


def configured_workers() -> int:
    """Worker processes to verify with, from WORKERS_ENV (default: one per core)."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text.isdigit():
        return min(int(text), 64)
    return _DEFAULT_WORKERS


def _internal_error_report(message: str) -> Report:
    """What a verifier that could not finish answers: nothing about the badge (issue 17)."""
    checks = [Check("input", "failed", "internal_error", message)]
    checks += [Check(name, "skipped", "not_reached", "not checked") for name in CHECK_NAMES[1:]]
    return Report("invalid", None, "unknown", tuple(checks))


@dataclass(frozen=True, slots=True)
class ReadyReport:
    """A report made in a worker as the gateway sends it: its JSON bytes, and whether our
    verifier failed inside (a check with `internal_error`: the gateway's 503)."""

    body: bytes
    failed_inside: bool
    proven_uid: str | None  # the badge's UID, when its issuer proof verified


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

    def _start_worker(self) -> Worker:
        return Worker(self._context, self._calls, self._replace)

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
        if isinstance(outcome, Failed):
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
        if isinstance(outcome, Failed):
            return ReadyReport(*report_json(_internal_error_report(outcome.message)))
        if isinstance(outcome, Report):  # made here: its resolvers could not travel
            return ReadyReport(*report_json(outcome))
        return ReadyReport(*outcome)

    async def _run(self, request: tuple[Any, ...], *, as_json: bool) -> Outcome | Failed:
        """A job's outcome (a report made here when it cannot go to a worker), or Failed."""
        data, now, expected_uid, recipient, resolvers, answers = request
        size = len(data)
        with self._lock:
            too_large = self._jobs > 0 and self._bytes + size > self.max_bytes
            if self._jobs >= self.max_jobs or too_large:
                return Failed("the verifier is busy; try again")
            self._jobs += 1
            self._bytes += size
            worker = min(self._workers, key=lambda w: len(w.jobs))
            number = next(self._numbers)
        try:
            loop = asyncio.get_running_loop()
            job = Job(loop, loop.create_future(), resolvers)
            shape = resolver_shape(resolvers)
            sent = (data, *now_to_wire(now), expected_uid, recipient, shape, as_json)
            try:
                worker.submit(number, job, sent, answers)
                return await job.done
            except WorkerGone:
                return Failed("the verifier process stopped; try again")
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

    def _replace(self, gone: Worker) -> None:
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
