"""The node's work queue over its admin API: `queue list|retry ID|drop ID`."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import click

from .client import AdminClient
from .common import reports_errors

__all__ = ["register"]


@click.group("queue")
def queue_group() -> None:
    """Work the node does in the background (publishing, deliveries, revocations, batches)."""


@queue_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the items as JSON.")
@click.pass_obj
@reports_errors
def queue_list(home: Path, as_json: bool) -> None:
    """List the queued items: name (topic:UID or id), attempts, dead or due, last error.
    `retry` and `drop` take the name as listed (or the item's hex id)."""
    items = AdminClient(home).call("GET", "/admin/queue")["items"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
        when = "dead" if item["dead"] else f"due {item['due_at']}"
        click.echo(f"{item['name']}  attempts={item['attempts']}  {when}  {item['error']}".rstrip())


@queue_group.command("retry")
@click.argument("item_id")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def queue_retry(home: Path, item_id: str, as_json: bool) -> None:
    """Make an item (a dead one too) due now."""
    answer = AdminClient(home).call("POST", f"/admin/queue/{quote(item_id, safe=':')}/retry")
    click.echo(json.dumps(answer) if as_json else f"retrying {item_id}")


@queue_group.command("drop")
@click.argument("item_id")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def queue_drop(home: Path, item_id: str, as_json: bool) -> None:
    """Drop an item: the queue will not do its work."""
    answer = AdminClient(home).call("DELETE", f"/admin/queue/{quote(item_id, safe=':')}")
    click.echo(json.dumps(answer) if as_json else f"dropped {item_id}")


def register(main: click.Group) -> None:
    """Add this module's commands to `main`."""
    main.add_command(queue_group)
