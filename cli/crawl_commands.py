"""`crawl START_URL…`: follow links from web pages and feeds, verify every badge found, and
report which are valid, revoked, invalid (forged) or indeterminate (node/crawler.py).

The crawler connects to public addresses only, as a public node does, and to the networks
`--allow-net` names (or the home's `fetch_allow`), unless `--private` (anywhere: an intranet,
or tests on 127.0.0.1). A link or redirect to any other private address is skipped
(`fetch_address_refused`). The BNS is asked through `--gateway` or this home's
running node, as `verify FILE` does; without either a revocation in the BNS goes unseen.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from badgechain.node.config import ConfigError, NodeConfig, load_config

from .common import reports_errors
from .home import HomeError

if TYPE_CHECKING:
    from badgechain.chain.resolve import TrustPolicy
    from badgechain.node.crawler import CrawlLimits, CrawlReport

__all__ = ["crawl_command", "describe_crawl", "register"]

_BNS_TIMEOUT_S = 25.0


def _config(home: Path, private: bool, allow: tuple[str, ...] = ()) -> NodeConfig:
    try:
        config = load_config(home)
    except ConfigError:
        config = NodeConfig()
    try:
        networks = tuple(str(ipaddress.ip_network(net, strict=False)) for net in allow)
    except ValueError as exc:
        raise HomeError(f"--allow-net: {exc}"[:300], code="network_invalid") from exc
    # Links on the web must not lead this machine to services behind its firewall.
    return config.with_overrides(
        public=not private,
        fetch_private=private,
        fetch_allow=tuple(dict.fromkeys((*config.fetch_allow, *networks))),
    )


async def _crawl(
    config: NodeConfig,
    urls: list[str],
    limits: CrawlLimits,
    gateway: str | None,
    trust: TrustPolicy | None = None,
) -> CrawlReport:
    import aiohttp

    from badgechain.node.crawler import crawl
    from badgechain.node.resolvers import GatewayBns, VerifierContext

    from .verify_commands import _node_answers

    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=_BNS_TIMEOUT_S)
    ) as session:
        if gateway is None:
            home_gateway = f"http://127.0.0.1:{config.http_port}"
            gateway = home_gateway if await _node_answers(home_gateway) else None
        bns = GatewayBns(gateway, session) if gateway else None
        context = VerifierContext(config, lambda: datetime.now(UTC), bns, trust=trust)
        return await crawl(context, urls, limits)


def crawl_command(
    home: Path,
    urls: list[str],
    limits: CrawlLimits,
    *,
    out: Path | None,
    gateway: str | None,
    private: bool,
    allow: tuple[str, ...] = (),
) -> CrawlReport:
    """Crawl; write the JSON report to `out` when given; the report."""
    if gateway is not None and not gateway.startswith(("http://", "https://")):
        raise HomeError("--gateway takes an http(s) URL", code="gateway_invalid")
    from badgechain.node.trust import policy_of_home

    config = _config(home, private, allow)  # the home's trust registry judges issuers too
    report = asyncio.run(_crawl(config, urls, limits, gateway, policy_of_home(home)))
    if out is not None:
        try:
            out.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        except OSError as exc:
            raise HomeError(f"{out}: {exc.strerror}", code="file_unwritable") from exc
    return report


def describe_crawl(report: CrawlReport) -> str:
    """The report for people: totals, then each badge with its verdict and where it was."""
    counts = report.counts()
    lines = [
        f"fetched {report.fetched} documents; stopped: {report.stopped}; "
        f"skipped {report.skipped_count}",
        "badges: " + ", ".join(f"{counts[name]} {name}" for name in counts),
    ]
    for badge in report.badges:
        where = badge.found_on[0] if badge.found_on else "a start URL"
        lines.append(f"  {badge.category.upper():<13} {badge.url}  (on {where}) [{badge.code}]")
    return "\n".join(lines)


def register(main: click.Group) -> None:
    """Add `crawl` to `main`."""

    @main.command("crawl")
    @click.argument("start_urls", nargs=-1, required=True)
    @click.option("--depth", type=click.IntRange(0, 20), default=3, show_default=True)
    @click.option("--max-pages", type=click.IntRange(1, 100_000), default=200, show_default=True)
    @click.option(
        "--max-seconds", type=click.FloatRange(0.1, 86_400), default=300.0, show_default=True
    )
    @click.option(
        "--fetch-timeout",
        type=click.FloatRange(0.1, 300),
        default=10.0,
        show_default=True,
        help="Seconds for each fetch (a slow server is left then).",
    )
    @click.option(
        "--max-bytes",
        type=click.IntRange(1024, 16 * 1024 * 1024),
        default=4 * 1024 * 1024,
        show_default=True,
        help="Bytes read of each fetch (a larger answer is left).",
    )
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None)
    @click.option("--json", "as_json", is_flag=True, help="Print the JSON report.")
    @click.option("--gateway", default=None, help="A node's gateway URL to ask the BNS.")
    @click.option("--private", is_flag=True, help="Also connect to private and loopback hosts.")
    @click.option(
        "--allow-net",
        "allow",
        multiple=True,
        metavar="CIDR",
        help="A private network to connect to besides public addresses (repeatable).",
    )
    @click.pass_obj
    @reports_errors
    def crawl(
        home: Path,
        start_urls: tuple[str, ...],
        depth: int,
        max_pages: int,
        max_seconds: float,
        fetch_timeout: float,
        max_bytes: int,
        out: Path | None,
        as_json: bool,
        gateway: str | None,
        private: bool,
        allow: tuple[str, ...],
    ) -> None:
        """Crawl web pages and feeds from START_URL and verify every badge they link.

        Writes a report of valid, revoked, invalid (forged) and indeterminate badges and
        the pages each was found on (--out FILE for JSON). Bounded by --depth, --max-pages
        and --max-seconds; honours robots.txt.
        """
        from badgechain.node.crawler import CrawlLimits

        limits = CrawlLimits(
            depth=depth,
            pages=max_pages,
            seconds=max_seconds,
            fetch_timeout_s=fetch_timeout,
            fetch_bytes=max_bytes,
        )
        report = crawl_command(
            home,
            list(start_urls),
            limits,
            out=out,
            gateway=gateway,
            private=private,
            allow=allow,
        )
        click.echo(json.dumps(report.to_json(), indent=2) if as_json else describe_crawl(report))
