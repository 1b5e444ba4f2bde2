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
from multiprocessing.connection import Connection
from typing import Any, Final

from badgechain.chain.contexts import local_contexts
from badgechain.chain.resolve import Resolvers
from badgechain.chain.verify import CHECK_NAMES, Check, Report

log = logging.getLogger(__name__)

__all__ = ["WORKERS_ENV", "VerifyPool", "busy_report", "configured_workers", "shared_pool"]

# How many worker processes a node verifies with: unset, one per core; 0, none (verify in
# a thread of the node's process, as before the pool).
WORKERS_ENV: Final = "BADGECHAIN_VERIFY_WORKERS"
JOBS_PER_WORKER: Final = 16  # jobs waiting or running per worker before new ones are refused
THREADS_PER_WORKER: Final = 4  # jobs a worker has under way at once (the others wait)
_CORES: Final = os.cpu_count() or 1
_EXTRA: Final = "extra:"  # how a resolver in Resolvers.extra is named on the pipe


class WorkerGone(Exception):
    """The worker's end of the pipe closed: the process died."""


def configured_workers() -> int:
    """Worker processes to verify with, from WORKERS_ENV (default: one per core)."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text.isdigit():
        return min(int(text), 64)
    return _CORES


def _internal_error_report(message: str) -> Report:
    """What a verifier that could not finish answers: nothing about the badge (issue 17)."""
    checks = [Check("input", "failed", "internal_error", message)]
    checks += [Check(name, "skipped", "not_reached", "not checked") for name in CHECK_NAMES[1:]]
    return Report("invalid", None, "unknown", tuple(checks))


def busy_report() -> Report:
    return _internal_error_report("the verifier is busy; try again")


# --- the worker process ---------------------------------------------------------------------


def _warm() -> None:
    """Load the pinned JSON-LD contexts and run every step once, so the first job is not slow."""
    import json
    from datetime import UTC

    from badgechain.chain.badge import build_achievement, build_credential
    from badgechain.chain.keys import KeyPair
    from badgechain.chain.proof import sign_credential
    from badgechain.chain.verify import verify_badge

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


class _Link:
    """One end of a pipe shared by the threads of many jobs: sends are whole messages."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, message: object) -> None:
        with self._lock:
            self.conn.send(message)


def _asker(
    link: _Link, answers: queue.SimpleQueue[tuple[str, Any]], job: int, name: str
) -> Callable[..., Any]:
    def ask(*args: Any) -> Any:
        link.send(("call", job, name, args))
        kind, value = answers.get()
        if kind == "raise":
            raise value
        return value

    return ask


def _proxies(
    link: _Link, answers: queue.SimpleQueue[tuple[str, Any]], job: int, shape: dict[str, Any]
) -> Resolvers:
    """Resolvers whose callables ask the parent; data (a trust policy) travels as it is."""
    values: dict[str, Any] = {
        name: _asker(link, answers, job, name) if value == "call" else value
        for name, value in shape.items()
        if name != "extra"
    }
    extra = {
        key: _asker(link, answers, job, _EXTRA + key) if value == "call" else value
        for key, value in shape["extra"].items()
    }
    return Resolvers(**values, extra=extra)


def _verify_job(
    link: _Link, answers: queue.SimpleQueue[tuple[str, Any]], job: int, *request: Any
) -> None:
    """One job, in a thread of the worker: its report, or why verify_badge raised."""
    from badgechain.chain.verify import verify_badge

    data, now, expected_uid, recipient, shape = request
    try:
        report = verify_badge(
            data,
            now=now,
            resolvers=_proxies(link, answers, job, shape),
            expected_uid=expected_uid,
            recipient=recipient,
        )
    except Exception as exc:  # verify_badge reports every check's error itself
        link.send(("error", job, f"{type(exc).__name__}: {exc}"[:500]))
        return
    link.send(("done", job, report))


def _job_thread(link: _Link, jobs: queue.SimpleQueue[tuple[Any, ...]]) -> None:
    try:
        _warm()  # this thread's memo tables (chain.jsonld): the first job is not slow
    except Exception:  # a broken warm-up must not stop verification: the jobs will tell
        log.exception("warming the verifier failed")
    while True:
        _verify_job(*jobs.get())


def worker_main(conn: Connection) -> None:
    """A worker's life: warm up, then verify each job sent until the pipe closes. Jobs run
    in THREADS_PER_WORKER threads, so one waiting for an answer (a DHT lookup) does not hold
    up the others: the worker's core stays busy while any job has work."""
    from badgechain.chain.contexts import add_local_contexts

    link = _Link(conn)
    waiting: dict[int, queue.SimpleQueue[tuple[str, Any]]] = {}
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
        elif kind == "verify":
            job, *request = message
            answers: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
            waiting[job] = answers
            jobs.put((link, answers, job, *request))
        elif kind == "ended":
            waiting.pop(message[0], None)
        else:  # "answer" or "raise", to the job that asked
            job, value = message
            if job in waiting:
                waiting[job].put((kind, value))


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
    if name.startswith(_EXTRA):
        found = resolvers.extra.get(name[len(_EXTRA) :])
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
        self.link = _Link(conn)
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
            self._send(("verify", job, *request))
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
        self._context.set_forkserver_preload(["badgechain.chain.verify"])
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
