"""Earner commands over the node's admin API: inbox, accept, reject, move, hide, show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .client import AdminClient
from .common import reports_errors
from .replication import WAIT_HELP, push_again, report, settle, wait_option

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


_JSON = click.option("--json", "as_json", is_flag=True, help="Print the node's answer as JSON.")
# How long `move` waits for a new URL to answer, and how much of its answer it reads.
_CHECK_TIMEOUT_S = 10.0
_CHECK_MAX_BYTES = 10 * 1024 * 1024


def _echo(answer: dict[str, Any], as_json: bool, line: str) -> None:
    click.echo(json.dumps(answer, indent=2, ensure_ascii=False) if as_json else line)


def _located(home: Path, answer: dict[str, Any], wait_s: float | None) -> dict[str, Any]:
    """A location write's answer, pushed again until enough replicas hold it (--wait)."""
    return settle(answer, wait_s, push_again(AdminClient(home), answer["uid"]))


@click.command("accept", epilog=WAIT_HELP)
@click.argument("uid")
@_JSON
@wait_option
@click.pass_obj
@reports_errors
def accept(home: Path, uid: str, as_json: bool, wait_s: float | None) -> None:
    """Accept a badge of the inbox: publish this node's URL for it in the BNS."""
    answer = _located(home, _call(home, "/admin/accept", {"uid": uid}), wait_s)
    _echo(answer, as_json, f"accepted {answer['uid']}: {_where(answer)}")
    report(answer, wait_s)


@click.command("reject")
@click.argument("uid")
@_JSON
@click.pass_obj
@reports_errors
def reject(home: Path, uid: str, as_json: bool) -> None:
    """Reject a badge of the inbox: its copy is deleted and it is not published."""
    answer = _call(home, "/admin/reject", {"uid": uid})
    _echo(answer, as_json, f"rejected {answer['uid']}")


@click.command("move", epilog=WAIT_HELP)
@click.argument("uid")
@click.argument("urls", nargs=-1, required=True)
@click.option("--no-check", is_flag=True, help="Do not fetch the URLs to see that they serve it.")
@_JSON
@wait_option
@click.pass_obj
@reports_errors
def move(
    home: Path,
    uid: str,
    urls: tuple[str, ...],
    no_check: bool,
    as_json: bool,
    wait_s: float | None,
) -> None:
    """Publish where an accepted badge can be fetched now (one to four URLs).

    Each URL is fetched first: one that does not serve this badge is named in a warning
    (the move still happens; verifiers would find nothing there).
    """
    answer = _call(home, "/admin/move", {"uid": uid, "urls": list(urls)})
    if not no_check:
        for url, problem in check_urls_serve(answer["uid"], urls):
            click.echo(f"warning: {url} {problem}", err=True)
    answer = _located(home, answer, wait_s)
    _echo(answer, as_json, f"moved {answer['uid']}: {_where(answer)}")
    report(answer, wait_s)


@click.command("hide", epilog=WAIT_HELP)
@click.argument("uid")
@_JSON
@wait_option
@click.pass_obj
@reports_errors
def hide(home: Path, uid: str, as_json: bool, wait_s: float | None) -> None:
    """Hide an accepted badge: it stays valid, and the BNS says where it is no more.

    `badgechain show UID` undoes it.
    """
    answer = _located(home, _call(home, "/admin/hide", {"uid": uid}), wait_s)
    _echo(answer, as_json, f"hidden {answer['uid']} (undo: badgechain show {answer['uid']})")
    report(answer, wait_s)


@click.command("show", epilog=WAIT_HELP)
@click.argument("uid")
@_JSON
@wait_option
@click.pass_obj
@reports_errors
def show(home: Path, uid: str, as_json: bool, wait_s: float | None) -> None:
    """Undo `hide`: publish this node's URL for a hidden badge again."""
    from badgechain.node.config import load_config

    text = uid.strip().removeprefix("urn:bns:")
    here = f"{load_config(home).gateway_url}/badges/{text}.json"
    answer = _located(home, _call(home, "/admin/move", {"uid": text, "urls": [here]}), wait_s)
    _echo(answer, as_json, f"shown {answer['uid']}: {_where(answer)}")
    report(answer, wait_s)


def check_urls_serve(uid: str, urls: tuple[str, ...]) -> list[tuple[str, str]]:
    """(url, what is wrong) for each URL that does not serve the badge `uid`."""
    import asyncio

    return asyncio.run(_check_all(uid, urls))


async def _check_all(uid: str, urls: tuple[str, ...]) -> list[tuple[str, str]]:
    import aiohttp

    problems = []
    timeout = aiohttp.ClientTimeout(total=_CHECK_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for url in urls:
            problem = await _serves(session, url, uid)
            if problem:
                problems.append((url, problem))
    return problems


async def _serves(session: Any, url: str, uid: str) -> str | None:
    """None when `url` answers with a credential whose UID is `uid`; else what it did."""
    import aiohttp

    from badgechain.chain.errors import BadgeChainError
    from badgechain.chain.jsonio import parse_json

    try:
        async with session.get(url) as response:
            if response.status != 200:
                return f"answered HTTP {response.status}, not the badge"
            data = await response.content.read(_CHECK_MAX_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return "did not answer"
    if len(data) > _CHECK_MAX_BYTES:
        return "answered with more than a badge"
    try:
        document = parse_json(data)
    except BadgeChainError:
        return "does not serve a JSON badge"
    proof = document.get("proof") if isinstance(document, dict) else None
    proofs = proof if isinstance(proof, list) else [proof]
    if not any(isinstance(p, dict) and p.get("proofValue") == uid for p in proofs):
        return "serves another document, not this badge"
    return None


def register(main: click.Group) -> None:
    """Add this module's commands to `main`."""
    for command in (inbox, accept, reject, move, hide, show):
        main.add_command(command)
