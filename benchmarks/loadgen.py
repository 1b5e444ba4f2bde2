"""A lean HTTP/1.1 load generator: keep-alive connections on asyncio streams, each request's
bytes made once, each answer read by its Content-Length (or chunks).

The gateway benchmark runs client and servers on the same 2 cores, so whatever the client
spends a request is taken from the servers: aiohttp's client spent 0.3 to 0.4 ms a request,
as much as the node's own share of a `POST /verify`. This one spends a fraction of that, so
the figures say more about the servers. It speaks only what a benchmark needs: plain HTTP
on loopback, one request at a time on each connection, no redirects, no compression.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

__all__ = ["LoadResult", "drive", "percentile"]

MAX_HEAD: Final = 64 * 1024  # an answer's status line and headers
MAX_BODY: Final = 16 * 1024 * 1024
REQUEST_TIMEOUT_S: Final = 60.0


class BadAnswer(Exception):
    """An answer this client cannot read: the connection is dropped and opened again."""


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """One timed load: requests sent, those that failed, wall time and latency (seconds)."""

    requests: int
    failures: int
    seconds: float
    p50: float
    p95: float
    client_cpu: float = 0.0  # CPU seconds of the load generator, timed part
    server_cpu: float = 0.0  # ...of the server: its process and every process it started

    @property
    def rate(self) -> float:
        good = self.requests - self.failures
        return good / self.seconds if self.seconds else math.nan

    @property
    def server_ms(self) -> float:
        """Server CPU milliseconds a request (its worker processes included)."""
        return 1000 * self.server_cpu / self.requests if self.requests else math.nan

    @property
    def client_ms(self) -> float:
        """Load generator CPU milliseconds a request."""
        return 1000 * self.client_cpu / self.requests if self.requests else math.nan


def _requests(urls: Sequence[str], body: bytes | None) -> tuple[str, int, list[bytes]]:
    """The host, port and bytes of a request to each URL (all on one host and port)."""
    places = {(part.hostname, part.port or 80) for part in map(urlsplit, urls)}
    if len(places) != 1:
        raise ValueError(f"the URLs are not all on one host and port: {sorted(map(str, places))}")
    host, port = places.pop()
    if host is None:
        raise ValueError("a URL without a host")
    made = []
    for url in urls:
        part = urlsplit(url)
        target = (part.path or "/") + (f"?{part.query}" if part.query else "")
        if body is None:
            head = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
            made.append(head.encode())
        else:
            head = (
                f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            made.append(head.encode() + body)
    return host, port, made


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """An answer's status, body, and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEAD:
        raise BadAnswer("the answer's head is too large")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise BadAnswer(f"not an HTTP status line: {lines[0][:80]!r}") from exc
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        size = int(headers["content-length"])
        if not 0 <= size <= MAX_BODY:
            raise BadAnswer(f"a body of {size} bytes")
        return status, await reader.readexactly(size), keep
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return status, await _read_chunks(reader), keep
    return status, await reader.read(MAX_BODY), False  # the body ends with the connection


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        total += size
        if total > MAX_BODY:
            raise BadAnswer("a chunked body too large")
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers are sent to us
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _close(
    slots: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None], slot: int
) -> None:
    opened, slots[slot] = slots[slot], None
    if opened is not None:
        opened[1].close()


async def drive(
    urls: Sequence[str], count: int, concurrency: int, body: bytes | None, check_valid: bool
) -> LoadResult:
    """`count` requests over `urls` in turn, `concurrency` at a time (one connection each),
    after an untimed warm-up that opens the connections and asks for every URL once. With
    `check_valid`, a 200 answer whose JSON verdict is not "valid" counts as failed."""
    host, port, made = _requests(urls, body)
    # One slot per connection, kept from the warm-up into the timed run: (reader, writer).
    slots: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = [None] * concurrency

    async def run(total: int) -> list[tuple[float, bool]]:
        results: list[tuple[float, bool]] = []
        next_index = iter(range(total))

        async def connection(slot: int) -> None:
            for index in next_index:
                started = time.perf_counter()
                ok = False
                opened = slots[slot]
                try:
                    if opened is None:
                        opened = slots[slot] = await asyncio.open_connection(host, port)
                    reader, writer = opened
                    writer.write(made[index % len(made)])
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        status, payload, keep = await _read_answer(reader)
                    ok = status == 200
                    if ok and check_valid:  # a 200 report that is not "valid" did less work
                        ok = json.loads(payload).get("verdict") == "valid"
                    if not keep:
                        _close(slots, slot)
                except (OSError, EOFError, ValueError, BadAnswer, TimeoutError):
                    _close(slots, slot)  # IncompleteReadError is an EOFError
                results.append((time.perf_counter() - started, ok))

        await asyncio.gather(*(connection(slot) for slot in range(concurrency)))
        return results

    try:
        await run(max(concurrency, len(urls)))
        started, cpu = time.perf_counter(), time.process_time()
        results = await run(count)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        for slot in range(concurrency):
            _close(slots, slot)
    latencies = [latency for latency, _ in results]
    failures = sum(not ok for _, ok in results)
    return LoadResult(
        count, failures, seconds, percentile(latencies, 0.5), percentile(latencies, 0.95), cpu
    )
