"""The parent's end of one verifier worker's pipe (node/verifypool.py runs a pool of them).

Requests go out from the event loop, those of one turn of it in one message; a reader thread
settles each job's outcome, and each question a job asks (a resolver call) is answered on a
pool thread with that job's own resolvers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import pickle
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from badgechain.chain.contexts import local_contexts
from badgechain.chain.resolve import BnsView, Resolvers
from badgechain.chain.statuslist import CheckedList
from badgechain.chain.verify import Report

from .verifyworker import EXTRA, Answers, Link, Travelling, keep_list, worker_main

__all__ = ["CannotTravel", "Failed", "Job", "Outcome", "Worker", "WorkerGone", "resolver_shape"]


class CannotTravel(Exception):
    """A request that does not pickle (a resolver given as data that pickle cannot carry)."""


class WorkerGone(Exception):
    """The worker's end of the pipe closed: the process died."""


def resolver_shape(resolvers: Resolvers) -> dict[str, Any]:
    """What the worker needs to rebuild `resolvers`: "call" for each callable, else the value."""
    shape: dict[str, Any] = {}
    for name in _NAMES:
        value = getattr(resolvers, name)
        shape[name] = "call" if callable(value) else value
    shape["extra"] = {k: "call" if callable(v) else v for k, v in resolvers.extra.items()}
    return shape


_NAMES: Final = tuple(item.name for item in fields(Resolvers) if item.name != "extra")
_FIELDS: Final = frozenset(_NAMES)
_VIEW_FIELDS: Final = tuple(item.name for item in fields(BnsView))  # BnsView(*these)


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


# What a worker sends back for a job: a Report, or its JSON (`report_json`).
Outcome = Report | tuple[bytes, bool, str | None]


@dataclass(frozen=True, slots=True)
class Failed:
    """A job no worker finished: its worker stopped, or the queue was full."""

    message: str


@dataclass(frozen=True, slots=True)
class Job:
    """A job a worker has in hand: where its report goes, and who answers its questions."""

    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[Outcome]
    resolvers: Resolvers

    def settle(self, outcome: Outcome | BaseException) -> None:
        """Hand the outcome to the waiting coroutine (from any thread)."""
        with contextlib.suppress(RuntimeError):  # its loop has closed: nobody waits
            self.loop.call_soon_threadsafe(_settle, self.done, outcome)


class Worker:
    """One worker process and the parent's end of its pipe. Requests are sent from the event
    loop, those made in one turn of it in one message; a reader thread settles each job's
    report and hands each question to a pool thread, which answers it with the job's
    resolvers (they wait on the loop)."""

    def __init__(
        self,
        context: Any,
        calls: queue.SimpleQueue[Callable[[], None] | None],
        on_gone: Callable[[Worker], None],
    ) -> None:
        conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()  # only the worker holds its end: its death closes the pipe
        self.link = Link(conn)
        self.jobs: dict[int, Job] = {}
        self.gone = False
        self._calls = calls
        self._on_gone = on_gone
        self._contexts: Mapping[str, bytes] = {}  # the local contexts the worker was sent
        # The status lists the worker keeps (verifyworker.keep_list): URL -> (token, list).
        self._lists: dict[str, tuple[int, CheckedList]] = {}
        self._tokens = itertools.count()
        self._pending: list[tuple[int, bytes]] = []  # requests not yet sent, pickled
        self._pending_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True, name="verify-reader")
        self._reader.start()

    def submit(self, number: int, job: Job, request: tuple[Any, ...], answers: Answers) -> None:
        """Queue a request (on the event loop) to go with the others of this turn of the
        loop; its outcome settles `job.done`. `answers` go too, each status list the worker
        keeps already named, not sent."""
        if self.gone:
            raise WorkerGone
        # One at a time: the worker keeps the lists it is sent in the order they are queued.
        with self._pending_lock:
            try:
                travelling = self._travelling(answers)
                request = (number, *request, travelling)
                pickled = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise CannotTravel(str(exc)) from exc
            for token, checked in travelling[2].values():  # kept as the worker will keep it
                keep_list(self._lists, checked.url, token, checked)
            self.jobs[number] = job
            first = not self._pending
            self._pending.append((number, pickled))
        if first:
            job.loop.call_soon(self._flush)

    def _travelling(self, answers: Answers) -> Travelling:
        """`answers` as they travel (verifyworker.Travelling): each status list the worker
        holds (this very object: a list fetched again is a new one) named by its token, each
        other one sent to be kept."""
        travelling: Travelling = ({}, {}, {}, {})
        plain, views, new, named = travelling
        for key, value in answers.items():
            if type(value) is BnsView:
                views[key] = tuple(getattr(value, name) for name in _VIEW_FIELDS)
            elif type(value) is CheckedList:
                held = self._lists.get(value.url)
                if held is not None and held[1] is value:
                    named[key] = (value.url, held[0])
                else:
                    new[key] = (next(self._tokens), value)
            else:
                plain[key] = value
        return travelling

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
        # Replaced before its jobs are answered: a client retrying on the error finds a worker.
        self._on_gone(self)
        for number in list(self.jobs):
            job = self.jobs.pop(number, None)
            if job is not None:
                job.settle(WorkerGone())

    def _answer(self, job: Job, number: int, name: str, args: tuple[Any, ...]) -> None:
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


def _settle(done: asyncio.Future[Outcome], outcome: Outcome | BaseException) -> None:
    if done.cancelled():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
