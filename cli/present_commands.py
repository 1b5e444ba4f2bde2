"""Presentations on the command line (issue 14 item 1, docs/presentations.md).

`present UID… --challenge C --domain D [--out FILE]` asks this home's node to sign a
presentation of badges it holds. `verify FILE --challenge C --domain D` (cli/local_commands.py
hands it here) verifies one as a verifier would: the holder's proof, each credential (with its
staple when the network cannot answer), that the holder is each credential's subject, the
challenge and the domain; and, this home being the verifier, that it has not accepted the
challenge before (remembered in the home's `challenges-used` file).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import click

from badgechain.bns.staple_reader import record_staple_extra, with_record_reader
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.holder import Binding, HolderError, verify_holder_presentation
from badgechain.chain.jsonio import parse_json
from badgechain.chain.report import Check, Report
from badgechain.chain.resolve import Resolvers
from badgechain.chain.verify import verify_credential
from badgechain.node.trust import policy_of_home

from .client import AdminClient
from .common import EXIT_INDETERMINATE, EXIT_INVALID, EXIT_USAGE, EXIT_VALID, reports_errors
from .home import HomeError, read_bounded, write_atomic

__all__ = ["register", "verify_presentation_command"]

USED_FILE: Final = "challenges-used"
MAX_REMEMBERED: Final = 10_000  # challenges this home remembers having accepted
MAX_PRESENTATION_BYTES: Final = 2 * 1024 * 1024
_EXIT: Final = {"valid": EXIT_VALID, "invalid": EXIT_INVALID, "indeterminate": EXIT_INDETERMINATE}


@click.command("present")
@click.argument("uids", nargs=-1, required=True)
@click.option("--challenge", required=True, help="The verifier's challenge.")
@click.option("--domain", required=True, help="The verifier's domain.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write it here.")
@click.option("--force", is_flag=True, help="Overwrite an existing --out file.")
@click.option("--no-staple", is_flag=True, help="Leave out the stapled status.")
@click.pass_obj
@reports_errors
def present(
    home: Path,
    uids: tuple[str, ...],
    challenge: str,
    domain: str,
    out: Path | None,
    force: bool,
    no_staple: bool,
) -> None:
    """Present badges this node holds to a verifier, signed for its challenge and domain."""
    try:
        Binding(challenge, domain)
    except HolderError as exc:
        raise click.UsageError(exc.message) from exc
    if out is not None and out.exists() and not force:
        raise HomeError(f"{out} exists; use --force to overwrite it", code="out_exists")
    body = {"uids": list(uids), "challenge": challenge, "domain": domain, "staple": not no_staple}
    signed = AdminClient(home).call("POST", "/admin/present", body)
    text = json.dumps(signed, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    write_atomic(out, text.encode())
    click.echo(str(out))


# -- verifying ---------------------------------------------------------------------------------


def _used(home: Path) -> list[str]:
    path = home / USED_FILE
    if not path.exists():
        return []
    value = parse_json(read_bounded(path, MAX_REMEMBERED * 300))
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _remember(home: Path, used: list[str], challenge: str) -> None:
    kept = [*used, challenge][-MAX_REMEMBERED:]
    write_atomic(home / USED_FILE, json.dumps(kept).encode(), mode=0o600)


def _replayed(report: Report) -> Report:
    checks = tuple(
        Check(
            "proof", "failed", "challenge_replayed", "this verifier accepted the challenge before"
        )
        if check.name == "proof"
        else check
        for check in report.checks
    )
    return Report("invalid", report.uid, report.format, checks, report.credential)


async def _networked(
    home: Path, presentation: object, binding: Binding, gateway: str | None
) -> Report:
    """Verified with the network: the BNS through this home's node or --gateway."""
    import aiohttp

    from badgechain.node.config import NodeConfig, load_config
    from badgechain.node.resolvers import GatewayBns, VerifierContext, verify_with

    try:
        config = load_config(home)
        gateway = gateway or f"http://127.0.0.1:{config.http_port}"
    except BadgeChainError:
        config = NodeConfig()

    async def run(
        _data: bytes, now: datetime, resolvers: Resolvers, _uid: str | None, _who: str | None
    ) -> Report:
        return await asyncio.to_thread(
            verify_holder_presentation,
            presentation,
            binding,
            now=now,
            resolvers=with_record_reader(resolvers),
            verify_credential=verify_credential,
        )

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=25.0)) as session:
        bns = GatewayBns(gateway, session) if gateway else None
        context = VerifierContext(config, lambda: datetime.now(UTC), bns)
        context.trust = policy_of_home(home)
        return await verify_with(context, b"", run=run)


def verify_presentation_command(
    home: Path,
    source: str,
    binding: Binding,
    *,
    as_json: bool,
    offline: bool,
    gateway: str | None,
) -> int:
    """Verify the presentation in `source` for `binding`; print the report; the exit code."""
    from .verify_commands import describe_report

    try:
        data = read_bounded(Path(source), MAX_PRESENTATION_BYTES)
        used = _used(home)
    except BadgeChainError as exc:
        click.echo(f"error [{exc.code}]: {exc.message}", err=True)
        return EXIT_USAGE
    try:
        presentation: object = parse_json(data)
    except BadgeChainError as exc:
        presentation = None
        click.echo(f"error [{exc.code}]: {exc.message}", err=True)
    if offline:
        resolvers = Resolvers(extra=record_staple_extra(), trust=policy_of_home(home))
        report = verify_holder_presentation(
            presentation,
            binding,
            now=datetime.now(UTC),
            resolvers=resolvers,
            verify_credential=verify_credential,
        )
    else:
        report = asyncio.run(_networked(home, presentation, binding, gateway))
    if report.check("proof").status == "passed":
        if binding.challenge in used:
            report = _replayed(report)
        else:  # this home is the verifier: it remembers (a new home is made for it)
            _remember(home, used, binding.challenge)
    shown = report.to_json()
    click.echo(json.dumps(shown, indent=2) if as_json else describe_report(shown))
    return _EXIT[report.verdict]


def register(main: click.Group) -> None:
    main.add_command(present)
