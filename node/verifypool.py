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
always did. Jobs beyond `max_jobs` waiting or running are answered the same way at once: the
queue is bounded.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any, Final

from badgechain.chain.contexts import local_contexts
from badgechain.chain.resolve import Resolvers
from badgechain.chain.verify import CHECK_NAMES, Check, Report, verify_badge

from .verifyworker import EXTRA, Link, worker_main

log = logging.getLogger(__name__)

__all__ = [
    "WORKERS_ENV",
    "VerifyPool",
    "busy_report",
    "configured_workers",
    "shared_pool",
    "started_pool",
]

# How many worker processes a node verifies with: unset, one per core but the one the node's
# own process keeps busy (HTTP, the DHT, answering the workers' questions), at least one;
# 0, none (verify in
# a thread of the node's process, as before the pool).
WORKERS_ENV: Final = "BADGECHAIN_VERIFY_WORKERS"
JOBS_PER_WORKER: Final = 16  # jobs waiting or running per worker before new ones are refused
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


def busy_report() -> Report:
    return _internal_error_report("the verifier is busy; try again")


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


class _Worker:
    """One worker process, the parent's end of its pipe, and the jobs it has in hand. A
    reader thread hands each message to the job it names."""

    def __init__(self, context: Any) -> None:
        conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()  # only the worker holds its end: its death closes the pipe
        self.link = Link(conn)
        self.jobs: dict[int, queue.SimpleQueue[tuple[Any, ...]]] = {}
        self.gone = False
        self._contexts: Mapping[str, bytes] = {}  # the local contexts the worker was sent
        self._reader = threading.Thread(target=self._read, daemon=True, name="verify-reader")
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                message = self.link.conn.recv()
            except (EOFError, OSError):
                break
            waiting = self.jobs.get(message[1])
            if waiting is not None:
                waiting.put(message)
        self.gone = True
        for waiting in list(self.jobs.values()):
            waiting.put(("gone",))

    def run(self, job: int, request: tuple[Any, ...], resolvers: Resolvers) -> Report:
        """Send `request`, answer the worker's questions with `resolvers`, return its report."""
        messages: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self.jobs[job] = messages
        try:
            if self.gone:
                raise WorkerGone
            self._send_contexts()
            try:
                self._send(("verify", job, *request))
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise CannotTravel(str(exc)) from exc  # pickled first: nothing was sent
            while True:
                kind, *rest = messages.get()
                if kind == "done":
                    report: Report = rest[1]
                    return report
                if kind == "error":
                    raise RuntimeError(f"the verifier failed: {rest[1]}")
                if kind == "gone":
                    raise WorkerGone
                self._answer(resolvers, job, *rest[1:])
        finally:
            del self.jobs[job]
            if not self.gone:
                with contextlib.suppress(WorkerGone):
                    self._send(("ended", job))

    def _send_contexts(self) -> None:
        local = local_contexts()
        if local is not self._contexts:  # contexts were added here since the last job
            self._contexts = local
            self._send(("contexts", dict(local)))

    def _answer(self, resolvers: Resolvers, job: int, name: str, args: tuple[Any, ...]) -> None:
        try:
            reply: tuple[str, int, Any] = ("answer", job, _resolver(resolvers, name)(*args))
        except Exception as exc:  # the resolver's error is the verification's to report
            reply = ("raise", job, _portable(exc))
        try:
            self._send(reply)
        except pickle.PicklingError as exc:
            self._send(("raise", job, RuntimeError(f"an answer that cannot travel: {exc}")))

    def _send(self, message: object) -> None:
        try:
            self.link.send(message)
        except (OSError, EOFError) as exc:  # BrokenPipeError included
            raise WorkerGone from exc

    def stop(self) -> None:
        self.link.conn.close()
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class VerifyPool:
    """`workers` processes verifying, each job sent from a thread of the pool's own to the
    worker with the fewest jobs in hand."""

    def __init__(self, workers: int, *, max_jobs: int | None = None) -> None:
        self.size = workers
        self.max_jobs = max_jobs if max_jobs is not None else workers * JOBS_PER_WORKER
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["badgechain.node.verifyworker"])
        self._workers = [_Worker(self._context) for _ in range(workers)]
        self._jobs = 0
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        # Each job's thread answers the worker's questions with the job's resolvers, which
        # wait on the event loop (the DHT, the network); daemons, so none holds up exit.
        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve_tasks, daemon=True, name=f"verify-{n}")
            for n in range(self.max_jobs)
        ]
        for thread in self._threads:
            thread.start()

    async def verify(
        self,
        data: bytes,
        now: datetime,
        resolvers: Resolvers,
        expected_uid: str | None,
        recipient: str | None,
    ) -> Report:
        """chain.verify.verify_badge's report, made in a worker process."""
        with self._lock:
            if self._jobs >= self.max_jobs:
                return busy_report()
            self._jobs += 1
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Report] = loop.create_future()
        request = (data, now, expected_uid, recipient, _shape(resolvers))

        def task() -> None:
            try:
                outcome: Report | BaseException = self._run(request, resolvers)
            except BaseException as exc:  # handed to the waiting coroutine, raised there
                outcome = exc
            finally:
                with self._lock:
                    self._jobs -= 1
            loop.call_soon_threadsafe(_settle, done, outcome)

        self._tasks.put(task)
        return await done

    def _run(self, request: tuple[Any, ...], resolvers: Resolvers) -> Report:
        with self._lock:
            worker = min(self._workers, key=lambda w: len(w.jobs))
        try:
            return worker.run(next(self._numbers), request, resolvers)
        except WorkerGone:
            self._replace(worker)
            return _internal_error_report("the verifier process stopped; try again")
        except CannotTravel as exc:  # a resolver that is data, not a callable, and no pickle
            log.warning("verifying in the node: the request cannot reach a worker (%s)", exc)
            data, now, expected_uid, recipient, _ = request
            return verify_badge(
                data, now=now, resolvers=resolvers, expected_uid=expected_uid, recipient=recipient
            )

    def _replace(self, gone: _Worker) -> None:
        with self._lock:
            if gone not in self._workers:
                return  # another job of the same worker replaced it
            log.error("a verifier process stopped (exit code %s)", gone.process.exitcode)
            fresh = _Worker(self._context)
            self._workers = [fresh if w is gone else w for w in self._workers]
        gone.stop()

    def pids(self) -> list[int]:
        """The worker processes' ids (tests, and the memory benchmark)."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def _serve_tasks(self) -> None:
        while (task := self._tasks.get()) is not None:
            task()

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        for worker in self._workers:
            worker.stop()


def _settle(done: asyncio.Future[Report], outcome: Report | BaseException) -> None:
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
