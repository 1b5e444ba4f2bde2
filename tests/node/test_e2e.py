"""End to end, as people use it: one OS process per node, driven by the `badgechain` CLI.

Issuer, earner and verifier each run `badgechain node start` in their own home on real
ports of 127.0.0.1; every step is a CLI command or a plain HTTP request.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PASSPHRASE = "e2e passphrase"
ENV = {**os.environ, "BADGECHAIN_PASSPHRASE": PASSPHRASE}
CLI = [sys.executable, "-m", "badgechain.cli"]


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bc(home: Path, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    """Run one `badgechain --home HOME …` command, as a user would."""
    done = subprocess.run(
        [*CLI, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
        check=False,
    )
    if expect is not None:
        assert done.returncode == expect, (args, done.returncode, done.stdout, done.stderr)
    return done


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.2)


@dataclass
class NodeProcess:
    home: Path
    process: subprocess.Popen[str] | None = None
    did: str = ""
    gateway: str = ""
    dht: str = ""

    def init(self, bootstrap: str | None = None) -> None:
        args = ["init", "--dht-port", str(_free_port(socket.SOCK_DGRAM))]
        args += ["--http-port", str(_free_port(socket.SOCK_STREAM))]
        if bootstrap:
            args += ["--bootstrap", bootstrap]
        self.did = bc(self.home, *args).stdout.strip()

    def start(self) -> None:
        log = (self.home / "node.log").open("a")
        self.process = subprocess.Popen(
            [*CLI, "--home", str(self.home), "node", "start"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=ENV,
        )
        log.close()
        assert self.process.stdout is not None
        words = self.process.stdout.readline().split()  # "ready DID GATEWAY HOST:PORT"
        assert len(words) == 4 and words[0] == "ready", (self.home / "node.log").read_text()
        _, did, self.gateway, self.dht = words
        assert did == self.did

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self._close()
        return code

    def _close(self) -> None:
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[NodeProcess]]:
    started: list[NodeProcess] = []
    try:
        yield started
    finally:
        for node in started:
            if node.process is not None and node.process.poll() is None:
                node.process.kill()
                node.process.wait(timeout=30)
            node._close()


def _network(tmp_path: Path, nodes: list[NodeProcess], names: list[str]) -> list[NodeProcess]:
    first = NodeProcess(tmp_path / names[0])
    first.init()
    first.start()
    nodes.append(first)
    for name in names[1:]:
        node = NodeProcess(tmp_path / name)
        node.init(bootstrap=first.dht)
        node.start()
        nodes.append(node)
    return nodes


def _lookup(home: Path, uid: str) -> dict:  # type: ignore[type-arg]
    return dict(json.loads(bc(home, "lookup", uid).stdout))


def test_issue_deliver_accept_verify_revoke_move_hide(
    tmp_path: Path, nodes: list[NodeProcess]
) -> None:
    issuer, earner, verifier = _network(tmp_path, nodes, ["issuer", "earner", "verifier"])
    class_id = bc(
        issuer.home,
        "class", "create", "--name", "P2P Systems",
        "--description", "Built a DHT", "--criteria", "Passed the labs",
    ).stdout.strip()  # fmt: skip
    uid = bc(issuer.home, "issue", "--class", class_id, "--to", earner.did).stdout.strip()

    eventually(lambda: uid in bc(earner.home, "inbox").stdout, 15, "delivery to the inbox")
    bc(earner.home, "accept", uid)
    record = _lookup(verifier.home, uid)
    assert record["issuer"] == issuer.did and record["earner"] == earner.did
    assert record["location"]["urls"] == [f"{earner.gateway}/badges/{uid}.json"]
    valid = bc(verifier.home, "verify", "--online", "--json", uid)
    assert json.loads(valid.stdout)["verdict"] == "valid"

    bc(issuer.home, "revoke", uid, "--reason", "issued in error")
    started = time.monotonic()
    eventually(
        lambda: bc(verifier.home, "verify", "--online", uid, expect=None).returncode == 1,
        10,
        "the verifier sees the revocation",
    )
    assert time.monotonic() - started < 10
    report = json.loads(bc(verifier.home, "verify", "--online", "--json", uid, expect=1).stdout)
    assert report["verdict"] == "invalid"
    assert {c["name"]: c["status"] for c in report["checks"]}["revocation"] == "failed"

    # A second badge: the earner moves it, then hides it; the verifier follows.
    second = bc(issuer.home, "issue", "--class", class_id, "--to", earner.did).stdout.strip()
    eventually(lambda: second in bc(earner.home, "inbox").stdout, 15, "second delivery")
    bc(earner.home, "accept", second)
    moved_to = f"{earner.gateway}/badges/{second}.json?moved=1"
    bc(earner.home, "move", second, moved_to)
    assert _lookup(verifier.home, second)["location"]["urls"] == [moved_to]
    assert bc(verifier.home, "verify", "--online", second).returncode == 0
    bc(earner.home, "hide", second)
    hidden = _lookup(verifier.home, second)["location"]
    assert hidden["hidden"] is True and hidden["urls"] == []

    # The issuer's node stops: the BNS replicas still say the first badge is revoked.
    assert issuer.stop() == 0
    report = json.loads(bc(verifier.home, "verify", "--online", "--json", uid, expect=1).stdout)
    assert {c["name"]: c["status"] for c in report["checks"]}["revocation"] == "failed"


def _admin(node: NodeProcess, method: str, path: str, body: object = None) -> dict:  # type: ignore[type-arg]
    token = (node.home / "admin.token").read_text().strip()
    request = urllib.request.Request(  # noqa: S310 (the node's loopback URL)
        node.gateway + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback URL)
        return dict(json.loads(answer.read()))


@pytest.mark.timeout(900)  # a thousand signed, published badges on two cores
def test_kill_nine_in_a_thousand_badge_batch_then_resume_gives_exactly_every_badge(
    tmp_path: Path, nodes: list[NodeProcess]
) -> None:
    issuer, _peer = _network(tmp_path, nodes, ["issuer", "peer"])
    class_id = bc(
        issuer.home, "class", "create", "--name", "Bulk", "--description", "d", "--criteria", "c",
    ).stdout.strip()  # fmt: skip
    earner = bc(tmp_path / "earner", "keys", "new", "--no-passphrase").stdout.strip()
    rows = [{"to": earner, "email": f"learner{i}@example.org"} for i in range(1000)]
    batch = _admin(issuer, "POST", "/admin/batches", {"class_id": class_id, "rows": rows})
    path = f"/admin/batches/{batch['batch_id']}"

    eventually(lambda: _admin(issuer, "GET", path)["done"] >= 100, 300, "the batch gets going")
    assert issuer.stop(signal.SIGKILL) == -signal.SIGKILL  # mid-batch, no clean shutdown

    issuer.start()  # the node finds the unfinished batch in its journal and resumes it
    eventually(lambda: _admin(issuer, "GET", path)["done"] == len(rows), 600, "batch done")
    eventually(lambda: _admin(issuer, "GET", path)["unpublished"] == 0, 120, "all published")
    final = _admin(issuer, "GET", path)
    assert final["total"] == len(rows) and len(set(final["uids"])) == len(rows)
    assert not final["failed"]
