"""Verifier commands: `verify FILE` (network by default, `--offline` for none), `verify
--online UID` and `lookup` over the local node's public gateway.

`verify FILE` runs the node's own verifier here (node/resolvers.py `verify_with`): it
fetches status lists, did:web documents and hosted documents under the node's outbound
rules, and asks the BNS through the home's running node or `--gateway URL`, so the
verdict is the gateway's for the same reachability (docs/verification.md).
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.verify import MAX_INPUT_BYTES, Report, verify_badge
from badgechain.node.config import ConfigError, NodeConfig, install_local_contexts, load_config
from badgechain.node.trust import policy_of_home

from .client import NodeError, why_no_answer
from .common import EXIT_INDETERMINATE, EXIT_INVALID, EXIT_USAGE, EXIT_VALID, reports_errors
from .home import HomeError, read_bounded

if TYPE_CHECKING:
    import aiohttp

    from badgechain.chain.resolve import TrustPolicy

# aiohttp and the node's resolvers are imported where the network is used: `verify
# --offline` never loads them (tests/cli/test_startup.py).
__all__ = [
    "GatewayError",
    "describe_report",
    "lookup_command",
    "register",
    "verify_file_command",
    "verify_online_command",
]

VERDICT_EXIT = {"valid": EXIT_VALID, "invalid": EXIT_INVALID, "indeterminate": EXIT_INDETERMINATE}
# The node bounds each request to 30 s; a little more here so its own answer arrives first.
_TIMEOUT_S = 40.0
_MAX_ANSWER = 4 * 1024 * 1024
_MARKS = {"passed": "ok  ", "failed": "FAIL", "skipped": "--  "}
# How long `verify FILE` waits to learn whether the home's node is running.
_PROBE_TIMEOUT_S = 2.0
_BNS_TIMEOUT_S = 25.0


def _gateway(home: Path) -> str:
    return f"http://127.0.0.1:{load_config(home).http_port}"


class GatewayError(NodeError):
    """The node answered with a problem report; `status` is its HTTP status (0: no answer)."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > _MAX_ANSWER:
            raise NodeError(f"the node's answer is over {_MAX_ANSWER} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _request(
    base_url: str, method: str, path: str, body: bytes | None = None, media: str | None = None
) -> Any:
    """One call to the public gateway; its JSON answer, or GatewayError with its problem."""
    import aiohttp

    headers = {"Content-Type": media} if media else {}
    payload = None if body is None else io.BytesIO(body)  # aiohttp streams a file-like body
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S)) as session,
            session.request(method, base_url + path, data=payload, headers=headers) as response,
        ):
            data = await _read_bounded(response)
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise GatewayError(
            f"no answer from the node at {base_url}: is `badgechain node start` running? "
            f"({why_no_answer(exc)})",
            code="node_unreachable",
            status=0,
        ) from exc
    try:
        answer = json.loads(data)
    except ValueError as exc:
        raise NodeError(f"the node answered {status} with non-JSON") from exc
    if status >= 400:
        problem = answer if isinstance(answer, dict) else {}
        raise GatewayError(
            str(problem.get("detail", f"HTTP {status}")),
            code=str(problem.get("code", "node_error")),
            status=status,
        )
    return answer


def _uid_path(uid: str) -> str:
    return quote(uid.strip(), safe=":")


def lookup_command(home: Path, uid: str) -> dict[str, Any]:
    """The merged BNS record of `uid`, as the local node's gateway shows it."""
    record = asyncio.run(_request(_gateway(home), "GET", f"/bns/{_uid_path(uid)}"))
    if not isinstance(record, dict):
        raise NodeError("the node answered with something other than a BNS record")
    return record


def _media_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "image/svg+xml"
    return "text/plain"  # JSON or a VC-JWT: the node tells them apart


def _read_target(target: str) -> bytes | None:
    """The badge bytes when `target` is a file (or - for stdin); None when it is a UID."""
    if target == "-":
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES:
            raise HomeError(f"stdin is larger than {MAX_INPUT_BYTES} bytes", code="input_too_large")
        return data
    path = Path(target)
    if path.is_file():
        return read_bounded(path, MAX_INPUT_BYTES)
    if target.startswith(("z", "urn:bns:")) and "/" not in target:
        return None
    raise HomeError(f"{target}: no such file, and not a UID", code="target_invalid")


def verify_online_command(home: Path, target: str, as_json: bool) -> int:
    """Verify a UID or a badge file through the local node; print the report; the exit code.

    0 valid, 1 invalid (a UID the BNS does not know is not accepted), 2 usage, and 3 when
    the node, the DHT or the badge's location could not answer.
    """
    try:
        data = _read_target(target)
        base = _gateway(home)
        if data is None:
            report = asyncio.run(_request(base, "GET", f"/verify/{_uid_path(target)}"))
        else:
            report = asyncio.run(_request(base, "POST", "/verify", data, _media_type(data)))
    except (HomeError, ConfigError) as exc:  # a file or a home that is not there
        click.echo(f"error [{exc.code}]: {exc.message}", err=True)
        return EXIT_USAGE
    except BadgeChainError as exc:
        click.echo(f"error [{exc.code}]: {exc.message}", err=True)
        return _exit_code(exc)
    if not isinstance(report, dict) or report.get("verdict") not in VERDICT_EXIT:
        click.echo("error [node_error]: the node answered without a report", err=True)
        return EXIT_INDETERMINATE
    click.echo(json.dumps(report, indent=2) if as_json else describe_report(report))
    return VERDICT_EXIT[report["verdict"]]


def _exit_code(error: BadgeChainError) -> int:
    """A UID the BNS does not know is not accepted (DESIGN.md); a malformed one is a usage
    error; anything else kept the node from checking, so the verdict is open."""
    status = error.status if isinstance(error, GatewayError) else 0
    if error.code == "bns_not_found":
        return EXIT_INVALID
    return EXIT_USAGE if status == 400 else EXIT_INDETERMINATE


def describe_report(report: dict[str, Any]) -> str:
    """A report (as JSON) for people: the verdict, then each check reached, then why."""
    checks = [check for check in report.get("checks", []) if isinstance(check, dict)]
    lines = [
        f"verdict: {str(report.get('verdict')).upper()}",
        f"uid:     {report.get('uid') or '-'}",
        f"format:  {report.get('format')}",
    ]
    lines += [
        f"  {_MARKS.get(str(c.get('status')), '?   ')} {c.get('name', ''):<13} {c.get('message')}"
        for c in checks
        if c.get("code") != "not_reached"
    ]
    failed = next((c for c in checks if c.get("status") == "failed"), None)
    if failed is not None:
        lines.append(
            f"invalid because {failed.get('name')} failed [{failed.get('code')}]: "
            f"{failed.get('message')}"
        )
    return "\n".join(lines)


def register(main: click.Group) -> None:
    """Add `lookup` to `main` (`verify --online` calls `verify_online_command`)."""

    @main.command("lookup")
    @click.argument("uid")
    @click.pass_obj
    @reports_errors
    def lookup(home: Path, uid: str) -> None:
        """Print the merged BNS record of UID (asks this home's running node)."""
        click.echo(json.dumps(lookup_command(home, uid), indent=2))


# -- verify FILE -------------------------------------------------------------------------------


def _read_input(source: str) -> bytes:
    """At most one byte past the limit: chain.verify reports an over-large input itself
    (invalid, input_too_large), the same report the gateway gives."""
    if source == "-":
        return sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    path = Path(source)
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError as exc:
        if _looks_like_uid(source):
            raise HomeError(
                f"{source}: no such file; it looks like a UID: did you mean "
                f"`badgechain verify --online {source}`?",
                code="file_not_found",
            ) from exc
        raise HomeError(f"{source}: no such file", code="file_not_found") from exc
    except IsADirectoryError as exc:
        raise HomeError(f"{source}: is a directory", code="file_not_found") from exc
    except OSError as exc:
        raise HomeError(f"{source}: {exc.strerror}", code="file_unreadable") from exc


def _looks_like_uid(text: str) -> bool:
    """A badge UID as people paste it: `z` or `urn:bns:z` and base58, long, no path."""
    bare = text.strip().removeprefix("urn:bns:")
    base58 = set("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
    return bare.startswith("z") and len(bare) > 40 and set(bare) <= base58


def _not_a_badge_hint(source: str, data: bytes, report: Report) -> str | None:
    """A note for a file that is no kind of badge (a text file, say), whose report would
    otherwise only say why the last format tried did not fit."""
    first = next((c for c in report.checks if c.status == "failed"), None)
    if first is None or first.name != "input":
        return None
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:2]
    if start[:1] in (b"{", b"<") or start == b"ey" or data.startswith(b"\x89PNG"):
        return None  # a JSON, SVG, JWT or PNG input: the report says what is wrong with it
    return (
        f"note: {source} is not a badge: verify takes a badge's JSON, a VC-JWT, or a baked "
        "PNG or SVG image (or a UID with --online)"
    )


def _home_config(home: Path) -> NodeConfig | None:
    try:
        return load_config(home)
    except ConfigError:
        return None  # no home yet: the default outbound rules, no node to ask


async def _node_answers(base_url: str) -> bool:
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_PROBE_TIMEOUT_S)) as session,
            session.get(base_url + "/health", allow_redirects=False) as response,
        ):
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def _verify_networked(
    config: NodeConfig,
    data: bytes,
    gateway: str | None,
    home_gateway: str | None,
    recipient: str | None,
    trust: TrustPolicy | None = None,
) -> tuple[Report, str | None]:
    """The report, and the gateway the BNS was asked through (None: no BNS)."""
    import aiohttp

    from badgechain.node.resolvers import GatewayBns, VerifierContext, verify_with

    if gateway is None and home_gateway is not None and await _node_answers(home_gateway):
        gateway = home_gateway
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=_BNS_TIMEOUT_S)
    ) as session:
        bns = GatewayBns(gateway, session) if gateway else None
        context = VerifierContext(config, lambda: datetime.now(UTC), bns, trust=trust)
        return await verify_with(context, data, recipient=recipient), gateway


def verify_file_command(
    home: Path,
    source: str,
    as_json: bool,
    *,
    offline: bool,
    gateway: str | None,
    recipient: str | None = None,
) -> int:
    """Verify a badge file (or - for stdin); print the report; the exit code.

    Network by default; `offline` forbids any connection (a check that needed one is
    then skipped, and blocking where the policy says so: the verdict is indeterminate).
    """
    if gateway is not None and not gateway.startswith(("http://", "https://")):
        click.echo("error [gateway_invalid]: --gateway takes an http(s) URL", err=True)
        return EXIT_USAGE
    try:
        data = _read_input(source)
        config = _home_config(home)
        if config is not None:
            install_local_contexts(home, config)
    except (HomeError, ConfigError) as exc:
        click.echo(f"error [{exc.code}]: {exc.message}", err=True)
        return EXIT_USAGE
    if offline:  # a staple's BNS record is still read (docs/presentations.md)
        from badgechain.bns.staple_reader import record_staple_extra
        from badgechain.chain.resolve import Resolvers

        offline_resolvers = Resolvers(extra=record_staple_extra(), trust=policy_of_home(home))
        report = verify_badge(
            data, now=datetime.now(UTC), resolvers=offline_resolvers, recipient=recipient
        )
    else:
        home_gateway = f"http://127.0.0.1:{config.http_port}" if config else None
        try:
            report, used = asyncio.run(
                _verify_networked(
                    config or NodeConfig(),
                    data,
                    gateway,
                    home_gateway,
                    recipient,
                    policy_of_home(home),
                )
            )
        except BadgeChainError as exc:  # e.g. a test host map on a public home
            click.echo(f"error [{exc.code}]: {exc.message}", err=True)
            return EXIT_USAGE
        if used is None and not as_json:
            click.echo("note: no running node or --gateway: the BNS was not consulted", err=True)
    click.echo(
        json.dumps(report.to_json(), indent=2) if as_json else describe_report(report.to_json())
    )
    hint = None if as_json else _not_a_badge_hint(source, data, report)
    if hint:
        click.echo(hint, err=True)
    return VERDICT_EXIT[report.verdict]
