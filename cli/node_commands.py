"""`badgechain init` and `badgechain node start`: make a home and run its node."""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from pathlib import Path

import click

from badgechain.chain.keys import KeyPair
from badgechain.chain.keystore import lock_key
from badgechain.node.app import Node
from badgechain.node.config import (
    ADMIN_TOKEN_FILE,
    CONFIG_FILE,
    NodeConfig,
    create_admin_token,
    load_config,
    parse_peer,
    read_admin_token,
    save_config,
)
from badgechain.node.logs import configure_logging

from .common import load_key, new_passphrase, reports_errors
from .home import KEY_FILE, HomeError, write_atomic

__all__ = ["register", "register_node_commands"]


def _peers(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple:  # type: ignore[type-arg]
    try:
        return tuple(parse_peer(item) for item in value)
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
    @click.option("--name", default=None, help="A name for this node (shown in logs).")
    @click.option("--dht-port", type=click.IntRange(0, 65535), default=None)
    @click.option("--http-port", type=click.IntRange(0, 65535), default=None)
    @click.option("--bootstrap", multiple=True, callback=_peers, help="IP:PORT of a DHT peer.")
    @click.option("--no-passphrase", is_flag=True, help="Store the key unencrypted.")
    @click.option("--force", is_flag=True, help="Overwrite an existing home's settings.")
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
    ) -> None:
        """Create a home: a key (unless one exists), config.toml and an admin token."""
        if (home / CONFIG_FILE).exists() and not force:
            raise HomeError(f"{home} is already initialised; use --force", code="home_exists")
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_path = home / KEY_FILE
        if not key_path.exists():
            passphrase = None if no_passphrase else new_passphrase()
            key = KeyPair.generate()
            write_atomic(key_path, lock_key(key, passphrase), mode=0o600)
        else:
            key = load_key(home)
        config = NodeConfig().with_overrides(
            name=name or home.name,
            dht_port=dht_port,
            http_port=http_port,
            bootstrap=bootstrap or None,
        )
        save_config(home, config)
        write_atomic(home / ADMIN_TOKEN_FILE, create_admin_token().encode(), mode=0o600)
        click.echo(key.did)

    @main.group()
    def node() -> None:
        """Run this home's node."""

    @node.command("start")
    @click.option("--dht-port", type=click.IntRange(0, 65535), default=None)
    @click.option("--http-port", type=click.IntRange(0, 65535), default=None)
    @click.option("--bootstrap", multiple=True, callback=_peers, help="IP:PORT of a DHT peer.")
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
        configure_logging(config.name)
        asyncio.run(_serve(Node(home, key, config, token)))

    async def _serve(node: Node) -> None:
        running = await node.start()
        dht_host, dht_port = running.dht_address
        # One line on stdout for whoever started us (devnet, scripts): where to reach it.
        print(f"ready {node.did} {running.gateway_url} {dht_host}:{dht_port}", flush=True)
        sys.stdout.flush()
        await running.run_until_signalled()


register = register_node_commands  # the name cli/main.py's lazy loader calls
