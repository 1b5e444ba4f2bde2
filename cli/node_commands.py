"""`badgechain init` and `badgechain node start`: make a home and run its node."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import json
import logging
import socket
import sys
from pathlib import Path

import click

from badgechain.chain.errors import IdentityError
from badgechain.chain.keys import KeyPair
from badgechain.chain.keystore import lock_key
from badgechain.node.app import Node, RunningNode
from badgechain.node.config import (
    ADMIN_TOKEN_FILE,
    CONFIG_FILE,
    ConfigError,
    NodeConfig,
    check_issuer_name,
    create_admin_token,
    load_config,
    parse_peer,
    read_admin_token,
    save_config,
)
from badgechain.node.didweb import did_web_from_text, document_path
from badgechain.node.logs import LOG_FORMATS, configure_logging
from badgechain.node.outbound import tls_context
from badgechain.node.relocation import follow_gateway_url

from .common import load_key, new_passphrase, reports_errors
from .home import KEY_FILE, HomeError, write_atomic
from .ports import PortInUse, check_free, first_free

__all__ = ["register", "register_node_commands"]

log = logging.getLogger("badgechain.cli")
DEVNET_FILE = "devnet.json"
# How often a node without DHT contacts says so again.
ALONE_REMINDER_S = 60.0
PEER_POLL_S = 5.0  # how often the node's contact count is looked at
_BOOTSTRAP_HELP = (
    "IP:PORT of a DHT peer, or `devnet` to join the devnet run from this folder "
    "(./devnet/devnet.json; or the path of a devnet.json)."
)


def _devnet_seed(value: str) -> tuple[str, int]:
    """The bootstrap node's DHT address from a devnet.json (`devnet` is ./devnet/devnet.json)."""
    path = Path("devnet") / DEVNET_FILE if value == "devnet" else Path(value)
    if path.is_dir():
        path = path / DEVNET_FILE
    try:
        nodes = json.loads(path.read_text()[:1_000_000])["nodes"]
        seed = next(node["dht"] for node in nodes if not node.get("bootstrap"))
    except FileNotFoundError:
        raise click.BadParameter(
            f"{path} does not exist: run `badgechain devnet` in this folder first"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        raise click.BadParameter(f"{path} is not a devnet.json with a bootstrap node") from None
    return parse_peer(str(seed))


def _peers(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple:  # type: ignore[type-arg]
    try:
        return tuple(
            _devnet_seed(item) if item == "devnet" or item.endswith(".json") else parse_peer(item)
            for item in value
        )
    except click.BadParameter:
        raise
    except Exception as exc:
        raise click.BadParameter(str(exc)) from exc


def _ip_address(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r:.60} is not an IP address") from exc


def register_node_commands(main: click.Group) -> None:
    @main.command()
    @click.option(
        "--name",
        default=None,
        help="The issuer's name in every badge this node issues (and the node's in its logs).",
    )
    @click.option("--dht-port", type=click.IntRange(0, 65535), default=None)
    @click.option("--http-port", type=click.IntRange(0, 65535), default=None)
    @click.option("--bootstrap", multiple=True, callback=_peers, help=_BOOTSTRAP_HELP)
    @click.option("--no-passphrase", is_flag=True, help="Store the key unencrypted.")
    @click.option("--force", is_flag=True, help="Overwrite an existing home's settings.")
    @click.option(
        "--did-web",
        "did_web",
        default=None,
        help="Issue as did:web:DOMAIN[:PATH] (give DOMAIN[:PATH]); serve its DID document.",
    )
    @click.option(
        "--tls-ca-file",
        default=None,
        help="A PEM of CA certificates trusted for outbound HTTPS besides the system's.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the DID and ports as JSON.")
    @click.pass_obj
    @reports_errors
    def init(
        home: Path,
        name: str | None,
        dht_port: int | None,
        http_port: int | None,
        bootstrap: tuple[tuple[str, int], ...],
        no_passphrase: bool,
        force: bool,
        did_web: str | None,
        tls_ca_file: str | None,
        as_json: bool,
    ) -> None:
        """Create a home: a key (unless one exists), config.toml and an admin token.

        Without --dht-port/--http-port the defaults (4800, 4880) are used, or the next free
        ports when another node on this machine holds them. Without --name the badges name
        their issuer by its DID alone; `badgechain config set issuer.name NAME` names it later.
        """
        issuer_name = _issuer_name(name)
        if (home / CONFIG_FILE).exists() and not force:
            raise HomeError(f"{home} is already initialised; use --force", code="home_exists")
        try:
            issuer_web = None if did_web is None else did_web_from_text(did_web)
        except IdentityError as exc:  # a usage error: exit 2 with the reason
            raise click.BadParameter(exc.message, param_hint="--did-web") from exc
        ca_file = None if tls_ca_file is None else str(Path(tls_ca_file).resolve())
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_path = home / KEY_FILE
        if not key_path.exists():
            passphrase = None if no_passphrase else new_passphrase()
            key = KeyPair.generate()
            write_atomic(key_path, lock_key(key, passphrase), mode=0o600)
        else:
            key = load_key(home)
        config = NodeConfig().with_overrides(
            name=issuer_name or home.name,
            issuer_name=issuer_name,
            dht_port=dht_port,
            http_port=http_port,
            bootstrap=bootstrap or None,
            did_web=issuer_web,
            tls_ca_file=ca_file,
        )
        config = _free_defaults(config, dht_port is None, http_port is None)
        save_config(home, config)
        write_atomic(home / ADMIN_TOKEN_FILE, create_admin_token().encode(), mode=0o600)
        if as_json:
            ports = {"dht_port": config.dht_port, "http_port": config.http_port}
            web = {"did_web": issuer_web} if issuer_web else {}
            named = {"issuer_name": issuer_name or None}
            click.echo(json.dumps({"did": key.did, "home": str(home), **ports, **web, **named}))
        else:
            click.echo(key.did)
            if issuer_web:
                path = document_path(issuer_web)
                click.echo(f"issues as {issuer_web}; serve this node's {path} at that address")
        if not issuer_name:
            click.echo(NO_ISSUER_NAME, err=True)

    @main.group()
    def node() -> None:
        """Run this home's node."""

    @node.command("start")
    @click.option("--dht-port", type=click.IntRange(0, 65535), default=None)
    @click.option("--http-port", type=click.IntRange(0, 65535), default=None)
    @click.option("--bootstrap", multiple=True, callback=_peers, help=_BOOTSTRAP_HELP)
    @click.option("--public", is_flag=True, default=None, help="Serve the gateway beyond loopback.")
    @click.option("--public-url", default=None, help="The gateway's URL as others reach it.")
    @click.option(
        "--fetch-private",
        is_flag=True,
        default=None,
        help="With --public: also fetch from private addresses (a private network only).",
    )
    @click.option(
        "--dht-host",
        default=None,
        callback=_ip_address,
        help="The IP address the DHT socket binds (e.g. 0.0.0.0 in a container).",
    )
    @click.option(
        "--log-format",
        type=click.Choice(LOG_FORMATS),
        default="auto",
        show_default=True,
        help="human lines, or one JSON object per line; auto: human on a terminal.",
    )
    @click.pass_obj
    @reports_errors
    def node_start(
        home: Path,
        dht_port: int | None,
        http_port: int | None,
        bootstrap: tuple[tuple[str, int], ...],
        public: bool | None,
        public_url: str | None,
        fetch_private: bool | None,
        dht_host: str | None,
        log_format: str,
    ) -> None:
        """Start the node: storage, DHT and gateway, until SIGINT or SIGTERM."""
        config = load_config(home).with_overrides(
            dht_host=dht_host,
            fetch_private=fetch_private,
            dht_port=dht_port,
            http_port=http_port,
            bootstrap=bootstrap or None,
            public=public,
            public_url=public_url,
        )
        key = load_key(home)
        token = read_admin_token(home)
        tls_context(config)  # a CA file that cannot be read stops the start, not a later fetch
        check_free(config.dht_host, config.dht_port, socket.SOCK_DGRAM, "--dht-port")
        check_free(config.http_host, config.http_port, socket.SOCK_STREAM, "--http-port")
        configure_logging(config.name, log_format=log_format)
        try:
            asyncio.run(_serve(Node(home, key, config, token)))
        except OSError as exc:  # a port taken between the check and the bind
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(
                f"a port of this node is in use ({exc.strerror}): pass --dht-port or "
                "--http-port (0 picks a free one)"
            ) from None

    async def _serve(node: Node) -> None:
        running = await node.start()
        dht_host, dht_port = running.dht_address
        # One line on stdout for whoever started us (devnet, scripts): where to reach it.
        print(f"ready {node.did} {running.gateway_url} {dht_host}:{dht_port}", flush=True)
        sys.stdout.flush()
        running.spawn(_say_when_alone(running))
        running.spawn(follow_gateway_url(running))  # a node that moved says where it is now
        await running.run_until_signalled()


NO_ISSUER_NAME = (
    "warning: no issuer name is set, so other nodes show this node's badges as from "
    '"an unnamed issuer". Set it with: badgechain config set issuer.name "Your Name"'
)


def _issuer_name(name: str | None) -> str:
    """--name checked as the issuer's name; "" when not given."""
    try:
        return "" if name is None else check_issuer_name(name)
    except ConfigError as exc:  # a usage error: exit 2 with the reason
        raise click.BadParameter(exc.message, param_hint="--name") from exc


def _free_defaults(config: NodeConfig, pick_dht: bool, pick_http: bool) -> NodeConfig:
    """`config` with the next free ports where the defaults are taken (and not asked for)."""
    dht = first_free(config.dht_host, config.dht_port, socket.SOCK_DGRAM) if pick_dht else None
    http = (
        first_free(config.http_host, config.http_port, socket.SOCK_STREAM, {dht or -1})
        if pick_http
        else None
    )
    for what, old, new in (("DHT", config.dht_port, dht), ("gateway", config.http_port, http)):
        if new is not None and new != old:
            click.echo(f"note: port {old} is in use; this node's {what} port is {new}", err=True)
    return config.with_overrides(dht_port=dht, http_port=http)


def alone_message(running: RunningNode) -> str | None:
    """What to tell the user when the node has no DHT contact (None when it has some)."""
    if running.dht.contact_count() > 0:
        return None
    own = running.dht_address
    seeds = [f"{host}:{port}" for host, port in running.config.bootstrap]
    if not seeds:
        return (
            f"no DHT contacts yet: no node has joined through this one ({own[0]}:{own[1]}), "
            "and it was started without --bootstrap. If it should join a network, restart "
            "it with --bootstrap IP:PORT of a running node (or --bootstrap devnet)"
        )
    if any(seed == f"{own[0]}:{own[1]}" for seed in seeds):
        why = f"--bootstrap {own[0]}:{own[1]} is this node's own DHT port"
    else:
        why = f"no answer from --bootstrap {' '.join(seeds)}"
    return (
        f"no DHT contacts: this node is alone ({why}); badges it issues reach no one. "
        "Restart it with --bootstrap IP:PORT of a running node (the `dht` address a devnet "
        "prints, or --bootstrap devnet)"
    )


async def _say_when_alone(running: RunningNode) -> None:
    """Warn at once, and again every minute, while the node has no DHT contact; say so
    when it has found peers (at start, and whenever it was alone before)."""
    loop = asyncio.get_running_loop()
    warned_at: float | None = None
    alone = True
    while True:
        message = alone_message(running)
        if message is None and alone:
            log.info("DHT peers found", extra={"contacts": running.dht.contact_count()})
            alone, warned_at = False, None
        elif message is not None:
            alone = True
            if warned_at is None or loop.time() - warned_at >= ALONE_REMINDER_S:
                log.warning(message)
                warned_at = loop.time()
        await asyncio.sleep(PEER_POLL_S)


register = register_node_commands  # the name cli/main.py's lazy loader calls
