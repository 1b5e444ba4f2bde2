"""`badgechain mail resend UID`: the issuer mails a new claim code (docs/claims.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .client import AdminClient
from .common import reports_errors

__all__ = ["register"]


@click.group("mail")
def mail_group() -> None:
    """Claim mail this node sends for badges issued to an email address."""


@mail_group.command("resend")
@click.argument("uid")
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def mail_resend(home: Path, uid: str, as_json: bool) -> None:
    """Mail a new claim code for an unclaimed badge; the old code stops working."""
    answer = AdminClient(home).call("POST", "/admin/mail/resend", {"uid": uid})
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    click.echo(f"a new code for {answer['uid']} is on its way; it expires {answer['expires']}")


def register(main: click.Group) -> None:
    """Add this module's commands to `main`."""
    main.add_command(mail_group)
