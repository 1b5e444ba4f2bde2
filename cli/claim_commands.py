"""`badgechain claim`: claim a badge that was issued to your email address (docs/claims.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .client import AdminClient
from .common import reports_errors

__all__ = ["register"]


@click.command("claim")
@click.argument("uid")
@click.option("--code", help="The one-time code from the claim mail.")
@click.option(
    "--resend",
    is_flag=True,
    help="Instead: ask the issuer to mail a new code (the old one expired or was lost).",
)
@click.option(
    "--issuer",
    metavar="URL",
    help="The issuer's gateway (the mail names it); default: the badge's BNS location.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
@click.pass_obj
@reports_errors
def claim(
    home: Path, uid: str, code: str | None, resend: bool, issuer: str | None, as_json: bool
) -> None:
    """Claim a badge issued to your email: its issuer hands it over to this node's key."""
    if resend == (code is not None):
        raise click.UsageError("give --code CODE, or --resend for a new code")
    where = {"issuer": issuer} if issuer else {}
    if resend:
        answer = AdminClient(home).call("POST", "/admin/claims/resend", {"uid": uid, **where})
        click.echo(
            json.dumps(answer, indent=2)
            if as_json
            else f"the issuer mails a new code for {answer['uid']}; it expires {answer['expires']}"
        )
        return
    answer = AdminClient(home).call("POST", "/admin/claims", {"uid": uid, "code": code, **where})
    if as_json:
        click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
        return
    click.echo(f"claimed {answer['uid']}: {answer['state']}")


def register(main: click.Group) -> None:
    """Add this module's commands to `main`."""
    main.add_command(claim)
