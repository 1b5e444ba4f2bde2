"""Personas, endorsements and collections over the node's admin API:
`persona new|list`, `endorse UID`, `collection create|list|show|edit|delete`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from .client import AdminClient
from .common import reports_errors

__all__ = ["register"]


def _call(home: Path, path: str, body: dict[str, Any] | None = None) -> Any:
    return AdminClient(home).call("GET" if body is None else "POST", path, body)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


# --- persona -------------------------------------------------------------------------------


@click.group("persona")
def persona_group() -> None:
    """Personas: genesis badges that badges can be issued to (urn:bns:<UID>)."""


@persona_group.command("new")
@click.option("--name", help="The persona's name (default: Persona).")
@click.option("--description", help="What the persona is for.")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def persona_new(home: Path, name: str | None, description: str | None, as_json: bool) -> None:
    """Create a persona; prints its UID and the urn:bns: id to issue badges to."""
    body = {key: value for key, value in (("name", name), ("description", description)) if value}
    persona = _call(home, "/admin/personas", body)
    if as_json:
        _echo_json(persona)
        return
    click.echo(persona["uid"])
    click.echo(persona["urn"])


@persona_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the personas as JSON.")
@click.pass_obj
@reports_errors
def persona_list(home: Path, as_json: bool) -> None:
    """List this node's personas."""
    personas = _call(home, "/admin/personas")["personas"]
    if as_json:
        _echo_json(personas)
        return
    if not personas:
        click.echo("no personas")
    for persona in personas:
        click.echo(f"{persona['urn']}  {persona['state']}  {persona['name']}")


# --- endorse -------------------------------------------------------------------------------


@click.command("endorse")
@click.argument("uid")
@click.option("--comment", help="What the endorsement says (default: Endorsed).")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def endorse(home: Path, uid: str, comment: str | None, as_json: bool) -> None:
    """Endorse a badge: sign an EndorsementCredential about it and deliver it to its earner."""
    body = {"uid": uid} | ({"comment": comment} if comment else {})
    answer = _call(home, "/admin/endorse", body)
    if as_json:
        _echo_json(answer)
        return
    delivery = answer["delivery"]
    code = f" ({delivery['code']})" if delivery.get("code") else ""
    click.echo(answer["uid"])
    click.echo(f"endorses {answer['endorsed']}; delivery: {delivery['status']}{code}")


# --- collection ----------------------------------------------------------------------------


@click.group("collection")
def collection_group() -> None:
    """Collections: public, shareable lists of badges this node holds."""


@collection_group.command("create")
@click.argument("name")
@click.argument("uids", nargs=-1, required=True)
@click.option("--description", help="What the collection shows.")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def collection_create(
    home: Path, name: str, uids: tuple[str, ...], description: str | None, as_json: bool
) -> None:
    """Create a collection of badges; prints its id and its public URL."""
    body: dict[str, Any] = {"name": name, "uids": list(uids)}
    if description:
        body["description"] = description
    collection = _call(home, "/admin/collections", body)
    if as_json:
        _echo_json(collection)
        return
    click.echo(collection["id"])
    click.echo(collection["url"])
    click.echo(collection["page"])


@collection_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the collections as JSON.")
@click.pass_obj
@reports_errors
def collection_list(home: Path, as_json: bool) -> None:
    """List this node's collections."""
    collections = _call(home, "/admin/collections")["collections"]
    if as_json:
        _echo_json(collections)
        return
    if not collections:
        click.echo("no collections")
    for collection in collections:
        click.echo(f"{collection['id']}  {collection['count']} badge(s)  {collection['name']}")


def _collection_path(collection_id: str) -> str:
    return f"/admin/collections/{quote(collection_id, safe='')}"


def _echo_statuses(collection: dict[str, Any]) -> None:
    click.echo(f"{collection['id']}  {collection['name']}")
    for badge in collection["badges"]:
        reason = f"  ({badge['reason']})" if badge.get("reason") else ""
        name = badge.get("name") or "-"
        click.echo(f"  {badge['uid']}  {badge['status']:<8}  {name}{reason}")


@collection_group.command("show")
@click.argument("collection_id")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def collection_show(home: Path, collection_id: str, as_json: bool) -> None:
    """Show a collection with each badge's status (shown, hidden, rejected, not_held, revoked)."""
    collection = _call(home, _collection_path(collection_id))
    if as_json:
        _echo_json(collection)
    else:
        _echo_statuses(collection)


@collection_group.command("edit")
@click.argument("collection_id")
@click.option("--name", help="A new name.")
@click.option("--description", help="A new description (empty: none).")
@click.option("--add", "added", multiple=True, help="A badge UID to add (repeatable).")
@click.option("--remove", "removed", multiple=True, help="A badge UID to take out (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def collection_edit(
    home: Path,
    collection_id: str,
    name: str | None,
    description: str | None,
    added: tuple[str, ...],
    removed: tuple[str, ...],
    as_json: bool,
) -> None:
    """Edit a collection; its id and public link stay the same."""
    client = AdminClient(home)
    path = _collection_path(collection_id)
    current = client.call("GET", path)
    gone = {uid.removeprefix("urn:bns:") for uid in removed}
    uids = [b["uid"] for b in current["badges"] if b["uid"] not in gone]
    uids += [uid for uid in added if uid not in uids]
    body = {
        "name": current["name"] if name is None else name,
        "description": current["description"] if description is None else description,
        "uids": uids,
    }
    collection = client.call("PUT", path, body)
    if as_json:
        _echo_json(collection)
    else:
        _echo_statuses(collection)


@collection_group.command("delete")
@click.argument("collection_id")
@click.pass_obj
@reports_errors
def collection_delete(home: Path, collection_id: str) -> None:
    """Delete a collection: its public link stops working."""
    AdminClient(home).call("DELETE", _collection_path(collection_id))
    click.echo(f"deleted collection {collection_id}")


def register(main: click.Group) -> None:
    """Add this module's commands to `main`."""
    for command in (persona_group, endorse, collection_group):
        main.add_command(command)
