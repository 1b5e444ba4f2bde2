"""`badgechain config`: read and change the settings of the home's config.toml.

A running node reads its settings when it starts: a change takes effect at its next start.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Final

import click

from badgechain.node.config import (
    ConfigError,
    NodeConfig,
    check_issuer_name,
    load_config,
    save_config,
)

from .common import reports_errors

__all__ = ["SETTINGS", "register"]


def _node_name(value: str) -> str:
    name = value.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise ConfigError("the node name is one line of 1 to 100 characters")
    return name


# KEY → (NodeConfig field, the check a new value passes, what it is for).
SETTINGS: Final[dict[str, tuple[str, Callable[[str], str], str]]] = {
    "issuer.name": (
        "issuer_name",
        check_issuer_name,
        "the issuer's name in every badge this node issues (empty: none)",
    ),
    "node.name": ("name", _node_name, "this node's name in its logs"),
}


def _setting_help() -> str:
    return "\n\n".join(f"{key}: {what}" for key, (_, _, what) in SETTINGS.items())


def _value(config: NodeConfig, key: str) -> str:
    return str(getattr(config, SETTINGS[key][0]))


@click.group("config")
def config_group() -> None:
    """Read and change this home's settings (config.toml).

    issuer.name is the issuer's name every badge this node issues carries; node.name its
    name in logs. A running node takes a change at its next start; `set` writes config.toml
    again in its standard layout (comments of your own are not kept).
    """


@config_group.command("get")
@click.argument("key", type=click.Choice(sorted(SETTINGS)))
@click.pass_obj
@reports_errors
def config_get(home: Path, key: str) -> None:
    """Print the value of KEY."""
    click.echo(_value(load_config(home), key))


@config_group.command("set", help=f"Set KEY to VALUE.\n\n{_setting_help()}")
@click.argument("key", type=click.Choice(sorted(SETTINGS)))
@click.argument("value")
@click.pass_obj
@reports_errors
def config_set(home: Path, key: str, value: str) -> None:
    field, check, _ = SETTINGS[key]
    config = load_config(home)
    try:
        checked = check(value)
    except ConfigError as exc:  # the user's value: a usage error (exit 2)
        raise click.BadParameter(exc.message, param_hint="VALUE") from exc
    save_config(home, config.with_overrides(**{field: checked}))
    click.echo(f"{key} = {json.dumps(checked, ensure_ascii=False)}", err=True)
    click.echo("a running node takes it at its next start", err=True)


@config_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the settings as a JSON object.")
@click.pass_obj
@reports_errors
def config_list(home: Path, as_json: bool) -> None:
    """Print every setting `config set` changes, with its value."""
    config = load_config(home)
    values = {key: _value(config, key) for key in SETTINGS}
    if as_json:
        click.echo(json.dumps(values, ensure_ascii=False))
        return
    for key, value in values.items():
        click.echo(f"{key} = {json.dumps(value, ensure_ascii=False)}")


def register(main: click.Group) -> None:
    """Add `config` to `main`."""
    main.add_command(config_group)
