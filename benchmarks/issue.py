"""Issuing speed: in-process (build, sign, bake into PNG) against raw Ed25519 and a PNG write
in the same run, and a CSV batch on a 3-node devnet until every badge is in the BNS.

    .venv/bin/python -m benchmarks.issue [--count 2000] [--rows 1000] [--earners 1]
                                         [--skip-devnet] [--profile]

In-process: N badges of one class, each a fresh OpenBadgeCredential (distinct id, email
identifier and earner) built, signed with eddsa-rdfc-2022 and baked into the default PNG, as
the gateway serves `/badges/{uid}.png`. The baseline is what no issuer can avoid: one raw
Ed25519 signature over a 64-byte input and one PNG written with the credential's chunk. It
also counts the canonicalisations (RDFC-1.0 runs) per badge.

Devnet: three `badgechain node start` processes (issuer, earner, verifier) on 127.0.0.1; a
CSV file of `--rows` rows (to `--earners` distinct earner keys in turn, distinct emails) read
by the CLI's own reader, posted as one batch, polled until every row is issued and none is
left unpublished, then until every delivery was tried (the issuer's queue); then every UID
is looked up at the verifier (`GET /bns/{uid}`) and must resolve. It also prints each
node's CPU time per badge until published, which depends less on other load than the wall
time, and each node's DHT counters. Only ratios measured in one run compare: these machines
are noisy. `--profile` runs the nodes under cProfile and prints their top functions by own
time, per batch row, until every delivery was tried (start-up included: the node id puzzle
shows; no resolvability check then), so the earner's side of delivery shows too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nacl.signing
import png

from badgechain.chain import jsonld
from badgechain.chain.badge import build_achievement
from badgechain.chain.bake import bake_png
from badgechain.chain.images import default_png
from badgechain.chain.keys import KeyPair
from badgechain.cli.issuer_commands import read_csv_rows
from badgechain.node.issuer import Recipient, badge_credential
from badgechain.node.pipeline import sign

ROOT = Path(__file__).resolve().parent.parent  # `-m benchmarks.issue` runs from here
CLI = [sys.executable, "-m", "badgechain.cli"]
ENV = {**os.environ, "BADGECHAIN_PASSPHRASE": "issue benchmark passphrase"}
ISSUER = KeyPair.from_seed(b"issue benchmark issuer".ljust(32, b"\0"))
NOW = datetime(2026, 6, 1, tzinfo=UTC)
BATCH_TIMEOUT_S = 1800.0
POLL_INTERVAL_S = 0.5  # a poll reads every row: polling often would slow the node it measures
LOOKUP_THREADS = 8
LOOKUPS_PER_S = 150.0  # the check's lookups (see count_resolvable)
NAMES = ("issuer", "earner", "verifier")


@dataclass(frozen=True, slots=True)
class Rate:
    label: str
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else math.nan


# --- in-process -----------------------------------------------------------------------------


def _recipients(count: int) -> list[Recipient]:
    earners = [KeyPair.from_seed(n.to_bytes(32, "big")).did for n in range(min(count, 50))]
    return [
        Recipient(earners[n % len(earners)], f"learner{n}@example.org", None, ())
        for n in range(count)
    ]


def _achievement() -> dict[str, Any]:
    return build_achievement(
        ISSUER.did, achievement_id="urn:uuid:1e5e", name="Issue", description="D", criteria="C"
    )


def issue_in_process(count: int) -> Rate:
    """Build, sign and bake `count` badges."""
    achievement = _achievement()
    recipients, image = _recipients(count), default_png()
    started = time.perf_counter()
    for recipient in recipients:
        unsigned = badge_credential(ISSUER.did, achievement, recipient, NOW)
        signed = sign(unsigned, ISSUER, NOW)
        bake_png(image, json.dumps(signed.credential))
    return Rate("build + sign + bake PNG", count, time.perf_counter() - started)


def raw_baseline(count: int, payload_chars: int) -> Rate:
    """One raw Ed25519 signature and one PNG written with a payload chunk, per badge."""
    key = nacl.signing.SigningKey(bytes(32))
    chunks = list(png.Reader(bytes=default_png()).chunks())
    payload = b"x" * payload_chars
    started = time.perf_counter()
    for number in range(count):
        key.sign(number.to_bytes(64, "big"))
        out = _Sink()
        png.write_chunks(out, [chunks[0], (b"iTXt", payload), *chunks[1:]])
    return Rate("raw Ed25519 sign + PNG write (baseline)", count, time.perf_counter() - started)


class _Sink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.parts.append(data)


@contextmanager
def counting_canonicalisations() -> Iterator[list[int]]:
    """Count RDFC-1.0 runs (every canonicalisation goes through jsonld.canonicalize)."""
    calls = [0]
    namespace = vars(jsonld)  # canonize calls the name it imported from chain/rdfc.py
    real = namespace["canonicalize"]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    namespace["canonicalize"] = counted
    try:
        yield calls
    finally:
        namespace["canonicalize"] = real


def canonicalisations_per_badge(count: int) -> float:
    with counting_canonicalisations() as calls:
        issue_in_process(count)
    return calls[0] / count


# --- devnet ---------------------------------------------------------------------------------


@dataclass
class NodeProcess:
    """A `badgechain node start` child; it printed `ready DID GATEWAY DHT` once it served."""

    home: Path
    popen: subprocess.Popen[str]
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
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            return json.loads(answer.read())

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.popen.stdout is not None:
            self.popen.stdout.close()


def start_node(
    home: Path, bootstrap: str | None, started: list[NodeProcess], profile: Path | None = None
) -> NodeProcess:
    """`badgechain init` a home on ports the OS picks, then `badgechain node start` it (under
    cProfile, writing `profile` when it stops, if given)."""
    init = [*CLI, "--home", str(home), "init", "--dht-port", "0", "--http-port", "0"]
    init += ["--bootstrap", bootstrap] if bootstrap else []
    subprocess.run(init, capture_output=True, text=True, env=ENV, timeout=120, check=True)
    cli = (
        CLI if profile is None else [sys.executable, "-m", "cProfile", "-o", str(profile), *CLI[1:]]
    )
    with (home.parent / f"{home.name}.log").open("a") as log:
        popen = subprocess.Popen(
            [*cli, "--home", str(home), "node", "start"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=ENV,
        )
    assert popen.stdout is not None
    words = popen.stdout.readline().split()
    node = NodeProcess(home, popen, *(words[1:4] if len(words) == 4 else ("", "", "")))
    started.append(node)
    if len(words) != 4 or words[0] != "ready":
        raise RuntimeError(f"{home.name} did not start; see its log beside {home}")
    return node


@contextmanager
def running() -> Iterator[list[NodeProcess]]:
    """Stop every node started into the list, whatever happens."""
    started: list[NodeProcess] = []
    try:
        yield started
    finally:
        for node in reversed(started):
            node.stop()


@dataclass(frozen=True, slots=True)
class BatchRun:
    rows: int
    issued: int
    failed: int
    until_done: float
    until_published: float
    resolvable: int
    until_delivered: float = math.nan  # until every delivery was tried once
    in_inbox: int = -1  # badges in the earner node's inbox then
    cpu_s: tuple[float, ...] = ()  # each node's CPU seconds from the POST until published
    dht_stats: tuple[dict[str, int], ...] = ()  # each node's DHT counters (GET /health) after
    cpu_delivered_s: tuple[float, ...] = ()  # each node's CPU seconds, published → delivered

    @property
    def rate(self) -> float:
        return self.issued / self.until_published if self.until_published else math.nan

    @property
    def delivery_rate(self) -> float:
        """Badges into the earner's inbox a second once published (a batch holds its
        deliveries until every chunk is out: node/batches.py)."""
        taking = self.until_delivered - self.until_published
        return self.in_inbox / taking if taking > 0 else math.nan


def issue_csv(
    issuer: NodeProcess,
    verifier: NodeProcess,
    class_id: str,
    earners: list[str],
    rows: int,
    watched: Sequence[NodeProcess] = (),
    *,
    settle: bool = True,
) -> BatchRun:
    """Issue the CSV as one batch; time it, and count the CPU time of the `watched` nodes
    (a figure that depends less on what else the machine runs than the wall time; the second
    is the earner node, whose inbox is counted). Without
    `settle`, no resolvability check (so a profile of the nodes covers the batch and its
    deliveries, not what follows)."""
    csv_file = issuer.home.parent / "earners.csv"
    lines = ["to,email", *(f"{earners[n % len(earners)]},l{n}@example.org" for n in range(rows))]
    csv_file.write_text("\n".join(lines) + "\n")
    body = {"class_id": class_id, "rows": read_csv_rows(csv_file)}
    cpu_before = [cpu_seconds(node) for node in watched]
    started = time.perf_counter()
    batch = issuer.admin("POST", "/admin/batches", body)
    path = f"/admin/batches/{batch['batch_id']}"
    until_done = math.nan
    while time.perf_counter() - started < BATCH_TIMEOUT_S:
        progress = issuer.admin("GET", path + "?uids=false")
        finished = progress["done"] + progress["failed"] == rows
        if finished and math.isnan(until_done):
            until_done = time.perf_counter() - started
        if finished and progress["unpublished"] == 0:
            until_published = time.perf_counter() - started
            cpu = tuple(cpu_seconds(n) - b for n, b in zip(watched, cpu_before, strict=True))
            uids = issuer.admin("GET", path)["uids"]
            stats = tuple(dht_stats(node) for node in watched)
            cpu_published = [cpu_seconds(node) for node in watched]
            delivered = wait_for_deliveries(issuer, started)
            cpu_delivered = tuple(
                cpu_seconds(n) - b for n, b in zip(watched, cpu_published, strict=True)
            )
            inbox = len(watched[1].admin("GET", "/admin/inbox")["badges"])
            resolvable = count_resolvable(verifier, uids) if settle else -1
            done, failed = progress["done"], progress["failed"]
            published = until_done, until_published, resolvable, delivered, inbox
            return BatchRun(rows, done, failed, *published, cpu, stats, cpu_delivered)
        time.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"the batch was not issued and published within {BATCH_TIMEOUT_S} s")


def cpu_seconds(node: NodeProcess) -> float:
    """User and system CPU time of a node's process so far (Linux /proc)."""
    fields = Path(f"/proc/{node.popen.pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for_deliveries(issuer: NodeProcess, started: float) -> float:
    """Seconds from `started` until the issuer's queue holds no delivery not yet tried (one
    tried and failed, e.g. to an earner without a node, waits for its retry: not counted)."""
    while time.perf_counter() - started < BATCH_TIMEOUT_S:
        items = issuer.admin("GET", "/admin/queue")["items"]
        if not any(i["topic"] == "deliver" and i["attempts"] == 0 for i in items):
            return time.perf_counter() - started
        time.sleep(POLL_INTERVAL_S)
    return math.nan


def dht_stats(node: NodeProcess) -> dict[str, int]:
    with urllib.request.urlopen(node.gateway + "/health", timeout=60) as answer:  # noqa: S310
        return dict(json.loads(answer.read())["dht"])


def count_resolvable(node: NodeProcess, uids: list[str]) -> int:
    """How many UIDs `node`'s gateway resolves through the DHT (untimed), at most
    `LOOKUPS_PER_S` a second: each lookup asks every peer, whose guard serves one source
    200 requests a second (bns/guard.py), and a peer that drops requests looks dead."""
    pace = threading.Lock()
    next_at = [time.monotonic()]

    def resolves(uid: str) -> bool:
        with pace:
            start = max(next_at[0], time.monotonic())
            next_at[0] = start + 1 / LOOKUPS_PER_S
        time.sleep(max(0.0, start - time.monotonic()))
        try:
            url = f"{node.gateway}/bns/{uid}"
            with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (loopback)
                return bool(answer.status == 200)
        except urllib.error.URLError:
            return False

    with ThreadPoolExecutor(LOOKUP_THREADS) as pool:
        missed = [
            uid for uid, found in zip(uids, pool.map(resolves, uids), strict=True) if not found
        ]
    # Again one at a time: a lookup that timed out under the parallel load is not a miss.
    return len(uids) - sum(not resolves(uid) for uid in missed)


def run_devnet(rows: int, earner_count: int, folder: Path, profile: Path | None = None) -> BatchRun:
    def profiled(name: str) -> Path | None:
        return None if profile is None else profile.with_name(f"{name}.prof")

    with running() as started:
        issuer = start_node(folder / "issuer", None, started, profiled("issuer"))
        earner = start_node(folder / "earner", issuer.dht, started, profiled("earner"))
        verifier = start_node(folder / "verifier", issuer.dht, started, profiled("verifier"))
        created = issuer.admin(
            "POST", "/admin/classes", {"name": "Bulk", "description": "D", "criteria": "C"}
        )
        earners = [earner.did] + [
            KeyPair.from_seed(n.to_bytes(32, "big")).did for n in range(1, earner_count)
        ]
        print(f"nodes up; issuing a {rows}-row CSV file …", flush=True)
        watched = (issuer, earner, verifier)
        settle = profile is None
        return issue_csv(issuer, verifier, created["id"], earners, rows, watched, settle=settle)


# --- report ---------------------------------------------------------------------------------


def _row(rate: Rate, baseline: Rate) -> str:
    ratio = rate.per_second / baseline.per_second
    return f"| {rate.label} | {rate.count} | {rate.per_second:,.1f} | {ratio:.3g} |"


def print_in_process(count: int, measure: Callable[[int], Rate] = issue_in_process) -> None:
    measure(min(count, 20))  # warm: compiled contexts, the default PNG
    measured = measure(count)
    unsigned = badge_credential(ISSUER.did, _achievement(), _recipients(1)[0], NOW)
    sample = json.dumps(sign(unsigned, ISSUER, NOW).credential)
    baseline = raw_baseline(count, len(sample))
    print("| in-process issue | badges | badges/s | ratio to baseline |")
    print("| --- | ---: | ---: | ---: |")
    print(_row(baseline, baseline))
    print(_row(measured, baseline))
    print(f"\ncanonicalisations per badge: {canonicalisations_per_badge(min(count, 50)):.2f}")


def print_batch(run: BatchRun, earners: int) -> None:
    print(
        "\n| CSV batch on 3 nodes | rows | earners | issued | failed | s until issued "
        "| s until published | badges/s published | s until delivered | in the earner's inbox "
        "| resolvable |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| one batch | {run.rows} | {earners} | {run.issued} | {run.failed} "
        f"| {run.until_done:.1f} | {run.until_published:.1f} | {run.rate:.1f} "
        f"| {run.until_delivered:.1f} | {run.in_inbox} | {run.resolvable} |"
    )
    if run.cpu_s:
        each = ", ".join(
            f"{name} {seconds * 1000 / max(run.issued, 1):.1f}"
            for name, seconds in zip(("issuer", "earner", "verifier"), run.cpu_s, strict=False)
        )
        print(f"\nCPU ms per badge until published: {each}")
    if run.cpu_delivered_s:
        each = ", ".join(
            f"{name} {seconds * 1000 / max(run.in_inbox, 1):.1f}"
            for name, seconds in zip(NAMES, run.cpu_delivered_s, strict=False)
        )
        print(
            f"deliveries: {run.delivery_rate:.1f} badges/s into the inbox once published; "
            f"CPU ms per delivered badge: {each}"
        )
    shown = ("rpcs_sent", "rpc_timeouts", "requests_rate_limited", "stores_accepted")
    for name, stats in zip(("issuer", "earner", "verifier"), run.dht_stats, strict=False):
        counts = ", ".join(f"{key} {stats.get(key, 0)}" for key in shown)
        print(f"{name} DHT: {counts}")


def print_profile(name: str, path: Path, rows: int, top: int = 15) -> None:
    """A node's top functions by own time, in ms per batch row."""
    stats = pstats.Stats(str(path))
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # pstats' own table
    total = sum(own for _, _, own, _, _ in table.values())
    print(f"\n{name} profile: {total:.1f} s of own time in all; top {top}, ms per row:")
    print("| function | calls per row | own ms per row | cumulative ms per row |")
    print("| --- | ---: | ---: | ---: |")
    ranked = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:top]
    for (file, line, name), (_, calls, own, cumulative, _) in ranked:
        where = f"{Path(file).name}:{line} {name}" if line else name
        print(
            f"| `{where}` | {calls / rows:.2f} | {own * 1000 / rows:.2f} "
            f"| {cumulative * 1000 / rows:.2f} |"
        )


# Where a delivered badge's time goes on each side (cumulative, so stages nest).
DELIVERY_STAGES = {
    "issuer": ("delivery.py deliver", "inbox_client.py post_credential", "queue.py flush"),
    # verify_credential runs in a thread, which cProfile does not see
    "earner": (
        "earner_routes.py post_inbox",
        "earner.py receive",
        "inbox_group.py room",
        "inbox_counts.py save_many",
        "leveldb.py _apply",
    ),
}


def print_stages(name: str, path: Path, rows: int) -> None:
    """Cumulative ms per row of the delivery stages of `name`'s node (see DELIVERY_STAGES)."""
    table: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    for stage in DELIVERY_STAGES.get(name, ()):
        file, _, function = stage.partition(" ")
        found = [
            (calls, cumulative)
            for (where, _, called), (_, calls, _, cumulative, _) in table.items()
            if Path(where).name == file and called == function
        ]
        calls = sum(c for c, _ in found)
        cumulative = sum(c for _, c in found)
        print(
            f"{name} `{stage}`: {calls / rows:.2f} calls, {cumulative * 1000 / rows:.2f} ms per row"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="badges issued in-process")
    parser.add_argument("--rows", type=int, default=1000, help="rows of the CSV batch")
    parser.add_argument("--earners", type=int, default=1, help="distinct earner keys in it")
    parser.add_argument("--skip-devnet", action="store_true", help="in-process only")
    parser.add_argument("--profile", action="store_true", help="profile the nodes")
    args = parser.parse_args()
    print_in_process(args.count)
    if not args.skip_devnet:
        with tempfile.TemporaryDirectory(prefix="bc-issue-") as folder:
            profile = Path(folder) / "issuer.prof" if args.profile else None
            run = run_devnet(args.rows, args.earners, Path(folder), profile)
            print_batch(run, args.earners)
            for name in ("issuer", "earner", "verifier") if profile is not None else ():
                print_profile(name, Path(folder) / f"{name}.prof", args.rows)
                print_stages(name, Path(folder) / f"{name}.prof", args.rows)


if __name__ == "__main__":
    main()
