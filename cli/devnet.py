"""`badgechain devnet`: a small BadgeChain network on this machine, one process per node.

`topology()` says who is who: node0 is the issuer (with a sample badge class) and the
bootstrap node, node1 an earner holding accepted sample badges, node2 a verifier; any
further nodes just serve the DHT; every other node joins through node0. docker/compose.yaml
describes the same network (tests/test_docker_topology.py holds them together). Each node
has its own home and LevelDB under DIR, so a second run restarts the same network on the same
ports where they are still free (the BNS names the nodes' URLs, which then still hold).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shlex
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from badgechain.chain.keys import KeyPair
from badgechain.chain.keystore import lock_key
from badgechain.node.config import (
    ADMIN_TOKEN_FILE,
    CONFIG_FILE,
    NodeConfig,
    create_admin_token,
    load_config,
    read_admin_token,
    save_config,
)

from .common import PASSPHRASE_ENV, reports_errors
from .home import KEY_FILE, HomeError, write_atomic
from .ports import is_free

__all__ = ["DEFAULT_NODES", "ROLES", "NodePlan", "register", "run_devnet", "topology"]

ROLES = ("issuer", "earner", "verifier")  # node0, node1, node2; the rest are "peer"
DEFAULT_NODES = 5
PASSPHRASE_FILE = ".passphrase"  # noqa: S105 (a file name, not a secret)
READY_TIMEOUT = 60.0
SAMPLE_BADGES = 2


@dataclass(frozen=True, slots=True)
class NodePlan:
    """One node of the network: its name, its role, and the node it joins the DHT through
    (None for the bootstrap node)."""

    name: str
    role: str
    bootstrap: str | None


def topology(count: int = DEFAULT_NODES) -> list[NodePlan]:
    """The devnet (and docker compose) network of `count` nodes: node0 first, alone; every
    other node joins through it."""
    return [
        NodePlan(
            name=f"node{index}",
            role=ROLES[index] if index < len(ROLES) else "peer",
            bootstrap=None if index == 0 else "node0",
        )
        for index in range(count)
    ]


@dataclass
class DevNode:
    plan: NodePlan
    home: Path
    process: asyncio.subprocess.Process | None = None
    did: str = ""
    gateway: str = ""
    dht: str = ""

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def role(self) -> str:
        return self.plan.role

    def describe(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "role": self.role,
            "bootstrap": self.plan.bootstrap,
            "home": str(self.home),
            "did": self.did,
            "gateway": self.gateway,
            "dht": self.dht,
        }


def _free_port(kind: int, taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port


def _keep_or_pick(port: int, kind: int, taken: set[int]) -> int:
    """The port an earlier run used when it is still free (so the URLs the BNS holds still
    lead here), else a fresh free one; `taken` collects the devnet's ports."""
    chosen = port if port and port not in taken and is_free("127.0.0.1", port, kind) else 0
    chosen = chosen or _free_port(kind, taken)
    taken.add(chosen)
    return chosen


def _passphrase(directory: Path) -> str:
    """One random passphrase for the devnet's keys, kept beside them (0600): a devnet is
    throwaway, but its keys are still encrypted the way real ones are."""
    path = directory / PASSPHRASE_FILE
    if path.exists():
        return path.read_text().strip()
    passphrase = secrets.token_urlsafe(24)
    write_atomic(path, passphrase.encode(), mode=0o600)
    return passphrase


def _prepare_home(node: DevNode, passphrase: str, taken: set[int]) -> None:
    """Create the node's home once; later runs reuse it, on the same ports where free."""
    node.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not (node.home / KEY_FILE).exists():
        key = KeyPair.generate()
        write_atomic(node.home / KEY_FILE, lock_key(key, passphrase), mode=0o600)
        write_atomic(node.home / ADMIN_TOKEN_FILE, create_admin_token().encode(), mode=0o600)
    earlier = (node.home / CONFIG_FILE).exists()
    config = load_config(node.home) if earlier else NodeConfig()
    save_config(
        node.home,
        config.with_overrides(
            name=node.name,
            issuer_name=config.issuer_name or node.name,  # as docker's `init --name node0`
            dht_port=_keep_or_pick(config.dht_port if earlier else 0, socket.SOCK_DGRAM, taken),
            http_port=_keep_or_pick(config.http_port if earlier else 0, socket.SOCK_STREAM, taken),
            bootstrap=(),
        ),
    )


async def _start(node: DevNode, bootstrap: str | None, passphrase: str) -> None:
    command = [sys.executable, "-m", "badgechain.cli", "--home", str(node.home), "node", "start"]
    if bootstrap:
        command += ["--bootstrap", bootstrap]
    log = (node.home / "node.log").open("ab")
    env = {**os.environ, PASSPHRASE_ENV: passphrase}
    node.process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=log, env=env
    )
    log.close()
    stdout = node.process.stdout  # a pipe: asked for above
    if stdout is None:
        raise HomeError(f"{node.name} started without a pipe", code="devnet_failed")
    try:
        line = await asyncio.wait_for(stdout.readline(), READY_TIMEOUT)
    except TimeoutError:
        line = b""
    words = line.decode(errors="replace").split()
    if len(words) != 4 or words[0] != "ready":
        raise HomeError(
            f"{node.name} did not start; see {node.home / 'node.log'}", code="devnet_failed"
        )
    _, node.did, node.gateway, node.dht = words


async def _admin(node: DevNode, method: str, path: str, body: Any = None) -> Any:
    import aiohttp  # only once the devnet runs: `devnet --help` stays quick

    token = read_admin_token(node.home)
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.request(
            method, node.gateway + path, json=body, headers={"Authorization": f"Bearer {token}"}
        ) as response,
    ):
        answer = await response.json(content_type=None)
        if response.status >= 400:
            raise HomeError(
                f"{node.name} {method} {path}: {answer.get('detail', response.status)}",
                code=str(answer.get("code", "devnet_failed")),
            )
        return answer


async def _sample_data(issuer: DevNode, earner: DevNode) -> list[str]:
    """A class on the issuer, badges delivered to the earner and accepted there."""
    if (await _admin(issuer, "GET", "/admin/classes"))["classes"]:
        return _earlier_samples(issuer)  # an earlier run made the sample data
    created = await _admin(
        issuer,
        "POST",
        "/admin/classes",
        {
            "name": "Devnet Explorer",
            "description": "Ran a BadgeChain devnet and looked around.",
            "criteria": "Started `badgechain devnet`.",
        },
    )
    uids = []
    for _ in range(SAMPLE_BADGES):
        issued = await _admin(
            issuer, "POST", "/admin/issue", {"class_id": created["id"], "to": earner.did}
        )
        uids.append(issued["uid"])
    for uid in uids:
        for _ in range(100):  # delivery is asynchronous: wait for the inbox (≤ 10 s)
            inbox = (await _admin(earner, "GET", "/admin/inbox"))["badges"]
            if any(item.get("uid") == uid for item in inbox):
                break
            await asyncio.sleep(0.1)
        await _admin(earner, "POST", "/admin/accept", {"uid": uid})
    return uids


def _earlier_samples(issuer: DevNode) -> list[str]:
    described = issuer.home.parent / "devnet.json"
    try:
        return list(json.loads(described.read_text()).get("sample_badges", []))
    except (OSError, ValueError, AttributeError):
        return []


async def _stop_all(nodes: list[DevNode]) -> None:
    running = [n.process for n in nodes if n.process and n.process.returncode is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


def _with_role(nodes: list[DevNode], role: str) -> DevNode | None:
    return next((node for node in nodes if node.role == role), None)


def badgechain_command() -> str:
    """How to run this `badgechain` from a fresh shell, where the venv is not activated: the
    script beside this Python when there is one, else this Python with -m."""
    script = Path(sys.executable).parent / "badgechain"
    if script.is_file() and os.access(script, os.X_OK):
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m badgechain.cli"


def _commands(directory: Path, nodes: list[DevNode], uids: list[str]) -> list[str]:
    bootstrap = nodes[0]
    verifier = _with_role(nodes, "verifier") or bootstrap
    earner = _with_role(nodes, "earner") or bootstrap
    badgechain = badgechain_command()
    bc = f"{badgechain} --home {shlex.quote(str(verifier.home))}"
    uid = uids[0] if uids else "<UID>"
    return [
        f"curl {bootstrap.gateway}/bns/{uid}",
        f"curl {nodes[-1].gateway}/verify/{uid}",
        f"{bc} lookup {uid}",
        f"{bc} verify --online {uid}",
        f"curl -o badge.png {earner.gateway}/badges/{uid}.png",
        f"{badgechain} verify badge.png --gateway {verifier.gateway}",
        f"curl -o card.svg {earner.gateway}/badges/{uid}.svg",
        f"curl {bootstrap.gateway}/log",
        f"{badgechain} log verify {bootstrap.gateway}",
        f"cat {shlex.quote(str(directory / 'devnet.json'))}",
    ]


def _join_line(bootstrap: DevNode) -> str:
    """The command that starts one more node of this devnet from a new home."""
    return (
        f"{badgechain_command()} --home ./mynode init && {badgechain_command()} --home "
        f"./mynode node start --bootstrap {bootstrap.dht}"
    )


async def _start_all(nodes: list[DevNode], passphrase: str) -> None:
    """Start the nodes as `topology` plans them: each once the node it joins through runs
    (the bootstrap node first, then the rest together)."""
    by_name = {node.name: node for node in nodes}

    def seed(node: DevNode) -> str | None:  # the DHT address of the node to join through
        return by_name[node.plan.bootstrap].dht if node.plan.bootstrap else None

    waiting = list(nodes)
    while waiting:
        ready = [node for node in waiting if node.plan.bootstrap is None or seed(node)]
        if not ready:
            raise HomeError("the topology has a bootstrap loop", code="devnet_failed")
        await asyncio.gather(*(_start(node, seed(node), passphrase) for node in ready))
        waiting = [node for node in waiting if node not in ready]


async def run_devnet(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    passphrase = _passphrase(directory)
    nodes = [DevNode(plan, directory / plan.name) for plan in topology(count)]
    taken: set[int] = set()
    for node in nodes:
        _prepare_home(node, passphrase, taken)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await _start_all(nodes, passphrase)
        issuer, earner = _with_role(nodes, "issuer"), _with_role(nodes, "earner")
        uids = await _sample_data(issuer, earner) if issuer and earner else []
        write_atomic(
            directory / "devnet.json",
            json.dumps(
                {"nodes": [n.describe() for n in nodes], "sample_badges": uids}, indent=2
            ).encode(),
        )
        click.echo(f"BadgeChain devnet: {count} nodes, homes in {directory}")
        for node in nodes:
            click.echo(f"  {node.name:<6} {node.role:<9} {node.gateway}  dht {node.dht}")
        click.echo(f"Open {nodes[-1].gateway}/ in a browser to verify and look up badges.")
        click.echo("Try:")
        for line in _commands(directory, nodes, uids):
            click.echo(f"  {line}")
        click.echo(f"Join with a node of your own (DHT bootstrap {nodes[0].dht}):")
        click.echo(f"  {_join_line(nodes[0])}")
        click.echo("Ctrl-C stops the devnet.", nl=True)
        sys.stdout.flush()
        await stopping.wait()
    finally:
        await _stop_all(nodes)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def register(main: click.Group) -> None:
    @main.command()
    @click.option(
        "--nodes", "count", type=click.IntRange(1, 50), default=DEFAULT_NODES, show_default=True
    )
    @click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("devnet"),
        show_default=True,
        help="Where the nodes' homes live (reused by the next run).",
    )
    @reports_errors
    def devnet(count: int, directory: Path) -> None:
        """Run a small BadgeChain network on this machine until Ctrl-C."""
        asyncio.run(run_devnet(directory.resolve(), count))
