"""Earner commands over the node's admin API: inbox, accept, reject, move, hide."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .client import AdminClient
from .common import reports_errors

__all__ = ["register"]


def _call(home: Path, path: str, body: dict[str, Any] | None = None) -> Any:
    return AdminClient(home).call("GET" if body is None else "POST", path, body)


def _where(answer: dict[str, Any]) -> str:
    location = (answer.get("record") or {}).get("location") or {}
    urls = location.get("urls") or []
    return " ".join(urls) if urls else "(hidden)"


@click.command("inbox")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def inbox(home: Path, as_json: bool) -> None:
    """List the badges delivered to this node that wait for accept or reject."""
    badges = _call(home, "/admin/inbox")["badges"]
    if as_json:
        click.echo(json.dumps(badges, indent=2, ensure_ascii=False))
        return
    if not badges:
        click.echo("the inbox is empty")
    for badge in badges:
        click.echo(f"{badge['uid']}  {badge['issuer']}  {badge['name']}")


@click.command("accept")
@click.argument("uid")
@click.pass_obj
@reports_errors
def accept(home: Path, uid: str) -> None:
    """Accept a badge of the inbox: publish this node's URL for it in the BNS."""
    answer = _call(home, "/admin/accept", {"uid": uid})
    click.echo(f"accepted {answer['uid']}: {_where(answer)}")


@click.command("reject")
@click.argument("uid")
@click.pass_obj
@reports_errors
def reject(home: Path, uid: str) -> None:
    """Reject a badge of the inbox: its copy is deleted and it is not published."""
    answer = _call(home, "/admin/reject", {"uid": uid})
    click.echo(f"rejected {answer['uid']}")


@click.command("move")
@click.argument("uid")
@click.argument("urls", nargs=-1, required=True)
@click.pass_obj
@reports_errors
def move(home: Path, uid: str, urls: tuple[str, ...]) -> None:
    """Publish where an accepted badge can be fetched now (one to four URLs)."""
    answer = _call(home, "/admin/move", {"uid": uid, "urls": list(urls)})
    click.echo(f"moved {answer['uid']}: {_where(answer)}")


@click.command("hide")
@click.argument("uid")
@click.pass_obj
@reports_errors
def hide(home: Path, uid: str) -> None:
    """Hide an accepted badge: it stays valid, and the BNS says where it is no more."""
    answer = _call(home, "/admin/hide", {"uid": uid})
    click.echo(f"hidden {answer['uid']}")


def register(main: click.Group) -> None:
    """Add this module's commands to `main`."""
    for command in (inbox, accept, reject, move, hide):
        main.add_command(command)
