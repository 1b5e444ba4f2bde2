"""`badgechain earner-badges ID`: an earner's public list of badges, from the BNS earner
index, through this home's node (docs/bns.md "Earner lookup"). ID is a did:key, a did:web
or a persona's `urn:bns:<UID>`; the node finds the key that signs the list's items.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import click

from .client import AdminClient, NodeError
from .common import reports_errors

__all__ = ["MAX_PAGES", "earner_badges", "register"]

MAX_PAGES: Final = 100  # --all stops here: 300 badges, each page one DHT lookup


def earner_badges(home: Path, earner: str, first: int, pages: int) -> dict[str, Any]:
    """Up to `pages` pages of the earner's index from page `first`, as one answer."""
    client = AdminClient(home)
    path = f"/earners/{quote(earner.strip(), safe=':')}/badges"
    items: list[Any] = []
    answer: Any = {}
    for number in range(first, first + pages):
        answer = client.call("GET", f"{path}?page={number}")
        if not isinstance(answer, dict) or not isinstance(answer.get("items"), list):
            raise NodeError("the node answered something other than an earner page")
        items += answer["items"]
        if not answer.get("next"):
            break
    return {
        "earner": earner,
        "key": answer.get("key"),
        "items": items,
        "more": bool(answer.get("next")),
    }


@click.command("earner-badges")
@click.argument("earner")
@click.option("--page", default=0, type=click.IntRange(0, 999_999_999), help="First page.")
@click.option("--all", "every", is_flag=True, help=f"Every page (at most {MAX_PAGES}).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.pass_obj
@reports_errors
def earner_badges_command(home: Path, earner: str, page: int, every: bool, as_json: bool) -> None:
    """List the badges an earner shows in the BNS (did:key, did:web or urn:bns: persona)."""
    answer = earner_badges(home, earner, page, MAX_PAGES if every else 1)
    if as_json:
        click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
        return
    click.echo(f"earner {earner}: signed by {answer['key']}")
    for item in answer["items"]:
        click.echo(f"  {item.get('uid')}  from {item.get('issuer')}")
    if not answer["items"]:
        click.echo("  (no badges)")
    if answer["more"]:
        click.echo("more: --all, or --page N")


def register(main: click.Group) -> None:
    """Add this module's command to `main`."""
    main.add_command(earner_badges_command)
