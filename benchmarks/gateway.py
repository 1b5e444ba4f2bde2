"""Gateway throughput on loopback, against a bare aiohttp handler measured in the same run.

    .venv/bin/python -m benchmarks.gateway [--requests 2000] [--verify-requests 1000]
                                           [--concurrency 16] [--rows 1000] [--records 0]

Real nodes run as `badgechain node start` processes: an issuer, an earner, and three
verifiers that differ only in how they verify (node/verifypool.py, BADGECHAIN_VERIFY_WORKERS):
in a thread of the node's process (0, as before the pool), in one worker process (1), and in
one worker per core (the default). The issuer defines a class
and issues a few badges to the earner, which publishes where it serves them; then a load
generator in a process of its own keeps `--concurrency` requests in flight against: a bare
aiohttp app (another process) whose one handler answers the bytes of a real `/bns` answer,
the baseline; the verifier's `GET /bns/{uid}` for those same few UIDs; each verifier's
`POST /verify` with one of the signed badges; and `GET /verify/{uid}` of those badges, each
seen once before timing starts. Then the issuer issues a `--rows` CSV file as
`badgechain issue --csv` does: read and checked by the CLI's own CSV reader, posted as one
batch, then polled until every row is issued and published. The loads take turns in
`--rounds` parts (the figures add them up, latencies are the parts' medians), so what else
runs on the machine weighs on each alike. With `--records`, last, benchmarks.memory
measures a node holding that many BNS records. Only ratios measured in one run compare:
these machines are noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from badgechain.cli.issuer_commands import read_csv_rows
from badgechain.node.verifypool import WORKERS_ENV
from benchmarks.loadgen import LoadResult, drive

ROOT = Path(__file__).resolve().parent.parent  # `-m benchmarks.gateway` runs from here
CLI = [sys.executable, "-m", "badgechain.cli"]
ENV = {**os.environ, "BADGECHAIN_PASSPHRASE": "gateway benchmark passphrase"}
CORES = os.cpu_count() or 1  # the third verifier has a worker per core
SAMPLE_UIDS = 5  # the few UIDs `GET /bns/{uid}` asks for, again and again
REQUEST_TIMEOUT_S = 60.0
LOAD_TIMEOUT_S = 600.0
BATCH_TIMEOUT_S = 900.0
POLL_INTERVAL_S = 0.2
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A CSV batch: rows, how many were issued or failed, and seconds from the POST until
    every row was gone through and until every issued badge was in the BNS."""

    rows: int
    issued: int
    failed: int
    until_done: float
    until_published: float

    @property
    def rate(self) -> float:
        return self.issued / self.until_done if self.until_done else math.nan


@dataclass(frozen=True, slots=True)
class GatewayReport:
    baseline: LoadResult
    bns: LoadResult
    verify_thread: LoadResult  # POST /verify, verified in a thread (before the pool)
    verify_one: LoadResult  # ...in one worker process
    verify: LoadResult  # ...in one worker process per core
    verify_uid: LoadResult  # GET /verify/{uid} of badges seen before
    batch: BatchResult | None
    workers: int  # the default pool's size (cores)

    @property
    def scaling(self) -> float:
        """POST /verify on every core (a worker per core, the default) against one worker
        thread, as before the pool: one core's worth, the GIL's."""
        return self.verify.rate / self.verify_thread.rate

    @property
    def over_one_process(self) -> float:
        """A worker per core against one worker process (which has a core to itself here)."""
        return self.verify.rate / self.verify_one.rate


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of process `root` and every live process descended from
    it (a node's verify workers are children of its forkserver), from /proc."""
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it exited meanwhile
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        spent[pid] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, cpu in spent.items():
        ancestor = pid
        while ancestor > 1 and ancestor != root:
            ancestor = parents.get(ancestor, 0)
        total += cpu if ancestor == root else 0.0
    return total


def run_load(
    urls: Sequence[str],
    count: int,
    concurrency: int,
    *,
    body: Path | None = None,
    check_valid: bool = False,
    server: int | None = None,
) -> LoadResult:
    """Drive the load from a second process, so client and server do not share a core;
    `server`: the pid whose process tree's CPU time is counted (includes the warm-up)."""
    command = [sys.executable, "-m", "benchmarks.gateway", "--load", *urls]
    command += ["--requests", str(count), "--concurrency", str(concurrency)]
    if body is not None:
        command += ["--body-file", str(body)]
    if check_valid:
        command.append("--check-valid")
    before = tree_cpu(server) if server else 0.0
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=LOAD_TIMEOUT_S, check=False
    )
    spent = tree_cpu(server) - before if server else 0.0
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr[-2000:]}")
    return LoadResult(**json.loads(done.stdout.splitlines()[-1]) | {"server_cpu": spent})


# --- the baseline server (its own process) --------------------------------------------------


async def serve_baseline(body: bytes) -> None:
    """A bare aiohttp app: one route, one handler answering fixed JSON, until SIGTERM."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/bns/{uid}", answer)
    runner = web.AppRunner(app, access_log=None)  # the nodes log no accesses either
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(f"ready http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    await runner.cleanup()


# --- processes ------------------------------------------------------------------------------


class Process:
    """A child that prints one `ready …` line on stdout once it serves; SIGTERM stops it."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        with log.open("a") as stderr:
            self.popen = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env or ENV
            )
        assert self.popen.stdout is not None
        words = self.popen.stdout.readline().split()
        if not words or words[0] != "ready":
            self.stop()
            raise RuntimeError(f"{command[-1]} did not start; see {log}")
        self.words = words[1:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()


@dataclass
class NodeProcess:
    home: Path
    process: Process
    did: str
    gateway: str
    dht: str

    def admin(self, method: str, path: str, body: object = None) -> Any:
        token = (self.home / "admin.token").read_text().strip()
        request = urllib.request.Request(  # noqa: S310 (the node's loopback URL)
            self.gateway + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as answer:  # noqa: S310
            return json.loads(answer.read())


def start_node(
    home: Path, bootstrap: str | None, started: list[Process], workers: int | None = None
) -> NodeProcess:
    """`badgechain init` a home on ports the OS picks, then `badgechain node start` it,
    verifying with `workers` processes (None: the node's default)."""
    init = [*CLI, "--home", str(home), "init", "--dht-port", "0", "--http-port", "0"]
    init += ["--bootstrap", bootstrap] if bootstrap else []
    subprocess.run(init, capture_output=True, text=True, env=ENV, timeout=120, check=True)
    env = ENV if workers is None else {**ENV, WORKERS_ENV: str(workers)}
    process = Process(
        [*CLI, "--home", str(home), "node", "start"], home.parent / f"{home.name}.log", env
    )
    started.append(process)
    did, gateway, dht = process.words
    return NodeProcess(home, process, did, gateway, dht)


@contextlib.contextmanager
def running(started: list[Process]) -> Iterator[list[Process]]:
    """Stop every process started into the list, whatever happens."""
    try:
        yield started
    finally:
        for process in reversed(started):
            process.stop()


# --- the measurements -----------------------------------------------------------------------


def issue_samples(issuer: NodeProcess, to: str, count: int) -> tuple[str, list[dict[str, Any]]]:
    """A class and `count` badges of it for `to`: the class id and the issue answers."""
    created = issuer.admin(
        "POST",
        "/admin/classes",
        {"name": "Benchmark", "description": "Load on the gateway", "criteria": "Was measured"},
    )
    body = {"class_id": created["id"], "to": to}
    return created["id"], [issuer.admin("POST", "/admin/issue", body) for _ in range(count)]


def issue_csv(issuer: NodeProcess, class_id: str, to: str, rows: int, folder: Path) -> BatchResult:
    """Issue a CSV file of `rows` earners as one batch; time it until issued and published."""
    csv_file = folder / "earners.csv"
    lines = ["to,email", *(f"{to},learner{n}@example.org" for n in range(rows))]
    csv_file.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    batch = issuer.admin(
        "POST", "/admin/batches", {"class_id": class_id, "rows": read_csv_rows(csv_file)}
    )
    path = f"/admin/batches/{batch['batch_id']}?uids=false"
    until_done = math.nan
    while time.perf_counter() - started < BATCH_TIMEOUT_S:
        progress = issuer.admin("GET", path)
        finished = progress["done"] + progress["failed"] == rows
        if finished and math.isnan(until_done):
            until_done = time.perf_counter() - started
        if finished and progress["unpublished"] == 0:
            until_published = time.perf_counter() - started
            return BatchResult(
                rows, progress["done"], progress["failed"], until_done, until_published
            )
        time.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"the batch was not issued and published within {BATCH_TIMEOUT_S} s")


def start_baseline(body: Path, started: list[Process]) -> tuple[str, int]:
    """The bare aiohttp app, answering `body` to every `GET /bns/{uid}`; its base URL and
    its pid."""
    command = [sys.executable, "-m", "benchmarks.gateway", "--baseline-server", str(body)]
    process = Process(command, body.parent / "baseline.log")
    started.append(process)
    return process.words[0], process.popen.pid


def place_samples(earner: NodeProcess, issued: list[dict[str, Any]]) -> None:
    """The earner holds the sample badges and publishes its gateway as their location, so a
    verifier's GET /verify/{uid} fetches each from there."""
    for answer in issued:
        earner.admin("POST", "/inbox", answer["credential"])  # the issuer's outbox may race
        earner.admin("POST", "/admin/accept", {"uid": answer["uid"]})


def post_verify(count: int, concurrency: int, node: NodeProcess, body: Path) -> LoadResult:
    url, pid = f"{node.gateway}/verify", node.process.popen.pid
    return run_load([url], count, concurrency, body=body, check_valid=True, server=pid)


def measure(args: argparse.Namespace, folder: Path) -> GatewayReport:
    with running([]) as started:
        issuer = start_node(folder / "issuer", None, started)
        earner = start_node(folder / "earner", issuer.dht, started)
        verifier = start_node(folder / "verifier", issuer.dht, started, workers=CORES)
        one_worker = start_node(folder / "verifier-1", issuer.dht, started, workers=1)
        in_thread = start_node(folder / "verifier-0", issuer.dht, started, workers=0)
        print("nodes up; issuing sample badges …", flush=True)
        class_id, issued = issue_samples(issuer, earner.did, SAMPLE_UIDS)
        place_samples(earner, issued)
        uids = [answer["uid"] for answer in issued]
        paths = [f"/bns/{uid}" for uid in uids]
        first = verifier.gateway + paths[0]
        with urllib.request.urlopen(first, timeout=REQUEST_TIMEOUT_S) as answer:  # noqa: S310
            (folder / "bns.json").write_bytes(answer.read())  # what the baseline answers
        (folder / "badge.json").write_text(json.dumps(issued[0]["credential"]))
        bare, bare_pid = start_baseline(folder / "bns.json", started)
        verifier_pid = verifier.process.popen.pid

        body = folder / "badge.json"
        targets: dict[str, Callable[[int], LoadResult]] = {
            "baseline": lambda n: run_load(
                [bare + p for p in paths], n, args.concurrency, server=bare_pid
            ),
            "bns": lambda n: run_load(
                [verifier.gateway + p for p in paths], n, args.concurrency, server=verifier_pid
            ),
            "verify_thread": lambda n: post_verify(n, args.concurrency, in_thread, body),
            "verify_one": lambda n: post_verify(n, args.concurrency, one_worker, body),
            "verify": lambda n: post_verify(n, args.concurrency, verifier, body),
            "verify_uid": lambda n: run_load(
                [f"{verifier.gateway}/verify/{uid}" for uid in uids],
                n,
                args.concurrency,
                check_valid=True,
                server=verifier_pid,
            ),
        }
        loads = interleaved(targets, args)
        batch = None
        if args.rows:
            print(f"issuing a {args.rows}-row CSV file …", flush=True)
            batch = issue_csv(issuer, class_id, earner.did, args.rows, folder)
    return GatewayReport(**loads, batch=batch, workers=CORES)


_POSTS: Final = frozenset({"verify_thread", "verify_one", "verify"})  # --verify-requests each


def interleaved(
    targets: dict[str, Callable[[int], LoadResult]], args: argparse.Namespace
) -> dict[str, LoadResult]:
    """Each target's load in `--rounds` parts, the targets taking turns, so a change in what
    else the machine runs meanwhile falls on all of them alike."""
    parts: dict[str, list[LoadResult]] = {name: [] for name in targets}
    for number in range(args.rounds):
        print(f"load, round {number + 1} of {args.rounds} …", flush=True)
        for name, load in targets.items():
            total = args.verify_requests if name in _POSTS else args.requests
            parts[name].append(load(max(1, total // args.rounds)))
    return {name: combine(results) for name, results in parts.items()}


def combine(results: Sequence[LoadResult]) -> LoadResult:
    """Rounds of one load as one: requests, failures and time added, latencies' medians."""
    return LoadResult(
        sum(r.requests for r in results),
        sum(r.failures for r in results),
        sum(r.seconds for r in results),
        statistics.median(r.p50 for r in results),
        statistics.median(r.p95 for r in results),
        sum(r.client_cpu for r in results),
        sum(r.server_cpu for r in results),
    )


def print_report(report: GatewayReport, concurrency: int) -> None:
    base, thread = report.baseline.rate, report.verify_thread.rate
    columns = "| requests | failed | req/s | p50 ms | p95 ms | ratio to bare aiohttp |"
    cpu = "server CPU ms/req | client CPU ms/req |"
    print(f"\n| load ({concurrency} concurrent) {columns} ratio to one thread | {cpu}")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = [
        ("bare aiohttp handler (baseline)", report.baseline, False),
        (f"GET /bns/{{uid}}, {SAMPLE_UIDS} UIDs looked up again", report.bns, False),
        ("POST /verify, one signed badge, one worker thread", report.verify_thread, True),
        ("POST /verify, one signed badge, one worker process", report.verify_one, True),
        (f"POST /verify, one signed badge, {report.workers} workers", report.verify, True),
        (f"GET /verify/{{uid}}, {SAMPLE_UIDS} badges seen before", report.verify_uid, False),
    ]
    for label, load, pooled in rows:
        versus = f"{load.rate / thread:.2f}" if pooled else ""
        print(
            f"| {label} | {load.requests} | {load.failures} | {load.rate:,.1f} "
            f"| {load.p50 * 1000:.1f} | {load.p95 * 1000:.1f} | {load.rate / base:.4f} "
            f"| {versus} | {load.server_ms:.3f} | {load.client_ms:.3f} |"
        )
    print(
        f"\nPOST /verify on every core: {report.scaling:.2f}x one worker thread; "
        f"{report.workers} workers: {report.over_one_process:.2f}x one worker process"
    )
    batch = report.batch
    if batch is None:
        return
    print(
        "\n| CSV issue | rows | issued | failed | s until issued | badges/s | s until published |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| one batch | {batch.rows} | {batch.issued} | {batch.failed} "
        f"| {batch.until_done:.1f} | {batch.rate:.1f} | {batch.until_published:.1f} |"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="timed GETs per target")
    parser.add_argument("--verify-requests", type=int, default=1000, help="timed POST /verify")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4, help="turns the loads take")
    parser.add_argument("--rows", type=int, default=1000, help="rows of the CSV batch (0: none)")
    parser.add_argument(
        "--records", type=int, default=0, help="BNS records for benchmarks.memory (0: skip it)"
    )
    internal = parser.add_mutually_exclusive_group()  # how the benchmark runs its children
    internal.add_argument("--load", nargs="+", metavar="URL", help=argparse.SUPPRESS)
    internal.add_argument("--baseline-server", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--body-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--check-valid", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> GatewayReport | None:
    args = parse_args(argv)
    if args.baseline_server is not None:
        asyncio.run(serve_baseline(args.baseline_server.read_bytes()))
        return None
    if args.load is not None:
        body = args.body_file.read_bytes() if args.body_file else None
        load = drive(args.load, args.requests, args.concurrency, body, args.check_valid)
        print(json.dumps(asdict(asyncio.run(load))))
        return None
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as folder:
        report = measure(args, Path(folder))
    print_report(report, args.concurrency)
    if args.records:
        from benchmarks import memory

        memory.main(["--records", str(args.records)])
    return report


if __name__ == "__main__":
    main()
