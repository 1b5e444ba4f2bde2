"""Verification on every core: worker processes run chain.verify, one badge at a time each.

chain.verify is pure CPU under the GIL, so threads of one process verify one badge at a
time. Here each verification is sent to a worker process; every question it asks of the
outside world (the BNS, a DID document, a status list) comes back over the pipe to the thread
that sent the job, which answers it with that verification's own resolvers, exactly as they
answer a verification run in a thread. So the report is the same wherever it was made.

A worker that dies mid-job is replaced, and the job's report says `internal_error` (the
gateway's 503 verifier_unavailable), as a crash inside the verifier always did. Jobs beyond
`max_jobs` waiting or running are answered the same way at once: the queue is bounded.
"""

from __future__ import annotations

import asyncio
import atexit
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
_EXTRA: Final = "extra:"  # how a resolver in Resolvers.extra is named on the pipe


class WorkerGone(Exception):
    """The worker's end of the pipe closed: the process died."""


def configured_workers() -> int:
    """Worker processes to verify with, from WORKERS_ENV (default: one per core)."""
    text = os.environ.get(WORKERS_ENV, "").strip()
    if text.isdigit():
        return min(int(text), 64)
    return os.cpu_count() or 1


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


def _asker(conn: Connection, name: str) -> Callable[..., Any]:
    def ask(*args: Any) -> Any:
        conn.send(("call", name, args))
        kind, value = conn.recv()
        if kind == "raise":
            raise value
        return value

    return ask


def _proxies(conn: Connection, shape: dict[str, Any]) -> Resolvers:
    """Resolvers whose callables ask the parent; data (a trust policy) travels as it is."""
    values: dict[str, Any] = {
        name: _asker(conn, name) if value == "call" else value
        for name, value in shape.items()
        if name != "extra"
    }
    extra = {
        key: _asker(conn, _EXTRA + key) if value == "call" else value
        for key, value in shape["extra"].items()
    }
    return Resolvers(**values, extra=extra)


def worker_main(conn: Connection) -> None:
    """A worker's life: warm up, then verify each job sent until the pipe closes."""
    from badgechain.chain.contexts import add_local_contexts
    from badgechain.chain.verify import verify_badge

    try:
        _warm()
    except Exception:  # a broken warm-up must not stop verification: the jobs will tell
        log.exception("warming the verifier failed")
    while True:
        try:
            kind, *job = conn.recv()
        except (EOFError, OSError):
            return
        if kind == "contexts":  # the node's local contexts (chain.contexts), added since
            add_local_contexts(job[0])
            continue
        data, now, expected_uid, recipient, shape = job
        try:
            report = verify_badge(
                data,
                now=now,
                resolvers=_proxies(conn, shape),
                expected_uid=expected_uid,
                recipient=recipient,
            )
        except Exception as exc:  # verify_badge reports every check's error itself
            conn.send(("error", f"{type(exc).__name__}: {exc}"[:500]))
            continue
        conn.send(("done", report))


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
    """One worker process and the parent's end of its pipe. Used by one thread at a time."""

    def __init__(self, context: Any) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()  # only the worker holds its end: its death closes the pipe
        self.contexts: Mapping[str, bytes] = {}  # the local contexts the worker was sent

    def run(self, job: tuple[Any, ...], resolvers: Resolvers) -> Report:
        """Send `job`, answer the worker's questions with `resolvers`, return its report."""
        local = local_contexts()
        if local is not self.contexts:  # contexts were added here since the last job
            self._send(("contexts", dict(local)))
            self.contexts = local
        self._send(("verify", *job))
        while True:
            try:
                kind, *rest = self.conn.recv()
            except (EOFError, OSError) as exc:
                raise WorkerGone from exc
            if kind == "done":
                report: Report = rest[0]
                return report
            if kind == "error":
                raise RuntimeError(f"the verifier failed: {rest[0]}")
            self._answer(resolvers, *rest)

    def _answer(self, resolvers: Resolvers, name: str, args: tuple[Any, ...]) -> None:
        try:
            reply: tuple[str, Any] = ("answer", _resolver(resolvers, name)(*args))
        except Exception as exc:  # the resolver's error is the verification's to report
            reply = ("raise", _portable(exc))
        try:
            self._send(reply)
        except pickle.PicklingError as exc:
            self._send(("raise", RuntimeError(f"an answer that cannot travel: {exc}")))

    def _send(self, message: object) -> None:
        try:
            self.conn.send(message)
        except (OSError, EOFError) as exc:  # BrokenPipeError included
            raise WorkerGone from exc

    def stop(self) -> None:
        self.conn.close()
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class VerifyPool:
    """`workers` processes verifying, each job from a thread of the pool's own."""

    def __init__(self, workers: int, *, max_jobs: int | None = None) -> None:
        self.size = workers
        self.max_jobs = max_jobs if max_jobs is not None else workers * JOBS_PER_WORKER
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["badgechain.chain.verify"])
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers = [_Worker(self._context) for _ in range(workers)]
        for worker in self._workers:
            self._idle.put(worker)
        self._jobs = 0
        self._lock = threading.Lock()
        # Each job's thread waits on the worker's answers and on the resolvers' (the DHT, the
        # network), so there are more threads than workers; daemons, so none holds up exit.
        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._serve_tasks, daemon=True, name=f"verify-{n}")
            for n in range(workers * 4)
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
        job = (data, now, expected_uid, recipient, _shape(resolvers))

        def task() -> None:
            try:
                outcome: Report | BaseException = self._run(job, resolvers)
            except BaseException as exc:  # handed to the waiting coroutine, raised there
                outcome = exc
            finally:
                with self._lock:
                    self._jobs -= 1
            loop.call_soon_threadsafe(_settle, done, outcome)

        self._tasks.put(task)
        return await done

    def _run(self, job: tuple[Any, ...], resolvers: Resolvers) -> Report:
        worker = self._idle.get()
        try:
            return worker.run(job, resolvers)
        except WorkerGone:
            log.error("a verifier process stopped (exit code %s)", worker.process.exitcode)
            worker.stop()
            worker = self._replace(worker)
            return _internal_error_report("the verifier process stopped; try again")
        finally:
            self._idle.put(worker)

    def _replace(self, gone: _Worker) -> _Worker:
        fresh = _Worker(self._context)
        with self._lock:
            self._workers = [fresh if w is gone else w for w in self._workers]
        return fresh

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
