"""`badgechain crawl` against a local aiohttp web site on 127.0.0.1 whose pages and feed link
badges issued by real in-process nodes: a valid one, a revoked one and a forged one, with a
link loop, a tar pit, an endless link generator and a robots.txt that disallows a folder.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.cli.main import main
from badgechain.node.app import RunningNode
from badgechain.node.crawl_links import MAX_LINKS_PER_PAGE, extract_links
from tests.node.conftest import NodeNetwork, eventually
from tests.node.test_log import append_batches

CLASS = {"name": "Web crawling", "description": "Finds badges", "criteria": "Crawl a site"}
Json = Any


@dataclass
class Site:
    """The web site: `files` by path (body, media type), and every path asked for."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)  # path → where it sends
    url: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def page(self, path: str, *links: str) -> None:
        anchors = "".join(f'<a href="{link}">{link}</a>\n' for link in links)
        body = f"<!doctype html><html><body>{anchors}</body></html>".encode()
        self.files[path] = (body, "text/html")


async def _handle(site: Site, request: web.Request) -> web.StreamResponse:
    site.asked.append(request.path)
    if request.path == "/tarpit":  # headers at once, then a body that never comes
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        await response.write(b"<html><body>")
        await site.release.wait()
        return response
    if request.path.startswith("/gen/"):  # a link generator: every page links two more
        n = int(request.path.removeprefix("/gen/"))
        links = f'<a href="/gen/{2 * n + 1}">a</a><a href="/gen/{2 * n + 2}">b</a>'
        return web.Response(text=f"<html>{links}</html>", content_type="text/html")
    if request.path in site.redirects:
        raise web.HTTPFound(site.redirects[request.path])
    if request.path == "/redirect-loop":
        raise web.HTTPFound("/redirect-loop")
    if request.path == "/to-private":  # robots.txt disallows where it leads
        raise web.HTTPFound("/private/secret.json")
    found = site.files.get(request.path)
    if found is None:
        raise web.HTTPNotFound()
    return web.Response(body=found[0], content_type=found[1])


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    site = Site()
    app = web.Application()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await _handle(site, request)

    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    site.url = f"http://127.0.0.1:{port}"
    try:
        yield site
    finally:
        site.release.set()
        await runner.cleanup()


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[NodeNetwork]:
    network = NodeNetwork(tmp_path / "nodes")
    try:
        yield network
    finally:
        await network.stop()


async def _admin(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode, path: str, body: Json
) -> Json:
    url = node.gateway_url + path
    async with http.post(url, json=body, headers=network.admin) as response:
        answer = await response.json(content_type=None)
        assert response.status in (200, 201), answer
        return answer


async def _bns(http: aiohttp.ClientSession, node: RunningNode, uid: str) -> Json:
    async with http.get(f"{node.gateway_url}/bns/{uid}") as response:
        return await response.json(content_type=None) if response.status == 200 else None


async def _issue_three(network: NodeNetwork, http: aiohttp.ClientSession) -> dict[str, bytes]:
    """A valid badge (JSON, and its baked SVG card), a revoked one (a baked PNG) and a forged
    copy of the first."""
    issuer, earner = await network.start(2)
    made = await _admin(network, http, issuer, "/admin/classes", CLASS)
    issued = [
        await _admin(
            network, http, issuer, "/admin/issue", {"class_id": made["id"], "to": earner.did}
        )
        for _ in range(2)
    ]
    valid, revoked = issued
    await _admin(network, http, issuer, "/admin/revoke", {"uid": revoked["uid"], "reason": "test"})

    async def published() -> bool:
        record = await _bns(http, issuer, valid["uid"])
        gone = await _bns(http, issuer, revoked["uid"])
        return record is not None and gone is not None and "revoked" in json.dumps(gone)

    await eventually(published, timeout=15)
    async with http.get(f"{issuer.gateway_url}/badges/{revoked['uid']}.png") as response:
        assert response.status == 200
        revoked_png = await response.read()
    async with http.get(f"{issuer.gateway_url}/badges/{valid['uid']}.svg") as response:
        assert response.status == 200
        valid_svg = await response.read()  # the badge card, the credential baked in
    forged = copy.deepcopy(valid["credential"])
    forged["credentialSubject"]["achievement"]["name"] = "Brain surgery"
    return {
        "valid": json.dumps(valid["credential"]).encode(),
        "revoked": revoked_png,
        "valid-svg": valid_svg,
        "forged": json.dumps(forged).encode(),
    }


def _crawl(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), "crawl", "--private", *args])


def _atom(site: Site, *links: str) -> bytes:
    entries = "".join(
        f'<entry><title>post</title><link href="{link}"/><id>{link}</id></entry>' for link in links
    )
    return f'<feed xmlns="http://www.w3.org/2005/Atom"><title>b</title>{entries}</feed>'.encode()


async def test_a_crawl_classifies_every_badge_and_keeps_its_bounds(
    network: NodeNetwork, site: Site, tmp_path: Path
) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        badges = await _issue_three(network, http)
    site.files["/robots.txt"] = (b"User-agent: *\nDisallow: /private/\n", "text/plain")
    site.files["/badges/valid.json"] = (badges["valid"], "application/json")
    site.files["/badges/revoked.png"] = (badges["revoked"], "image/png")
    site.files["/badges/forged.json"] = (badges["forged"], "application/ld+json")
    site.files["/badges/card.svg"] = (badges["valid-svg"], "image/svg+xml")
    site.files["/private/secret.json"] = (badges["valid"], "application/json")
    site.files["/feed.atom"] = (_atom(site, "/posts/1"), "application/atom+xml")
    site.page("/", "/loop/a", "/feed.atom", "/tarpit", "/to-private", "/redirect-loop")
    site.page("/more", "/private/secret.json")
    site.page("/loop/a", "/loop/b", "/badges/valid.json", "/more")
    site.page("/loop/b", "/loop/a", "/", "/badges/revoked.png")
    site.page("/posts/1", "/badges/forged.json", "/badges/valid.json", "/badges/card.svg")
    out = tmp_path / "report.json"
    args = ("--gateway", network.nodes[0].gateway_url, "--fetch-timeout", "1")
    result = await asyncio.to_thread(
        _crawl, tmp_path / "home", site.url + "/", *args, "--out", str(out)
    )

    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    verdicts = {badge["url"].removeprefix(site.url): badge for badge in report["badges"]}
    assert {path: badge["category"] for path, badge in verdicts.items()} == {
        "/badges/valid.json": "valid",
        "/badges/revoked.png": "revoked",
        "/badges/forged.json": "invalid",
        "/badges/card.svg": "valid",  # unbaked first
    }
    assert verdicts["/badges/forged.json"]["code"] == "signature_invalid"
    found_on = {page.removeprefix(site.url) for page in verdicts["/badges/valid.json"]["found_on"]}
    assert found_on == {"/loop/a", "/posts/1"}  # linked from a page and from a feed's post
    assert report["counts"] == {"valid": 2, "revoked": 1, "invalid": 1, "indeterminate": 0}
    skipped = {item["url"].removeprefix(site.url): item["code"] for item in report["skipped"]}
    assert skipped["/private/secret.json"] == "robots_disallowed"
    assert skipped["/tarpit"] == "fetch_timeout"
    assert "/redirect-loop" in skipped
    assert "/private/secret.json" not in site.asked
    assert site.asked.count("/loop/a") == 1 and site.asked.count("/") == 1  # the loop ended
    assert report["stopped"] == "done"
    assert (
        "2 valid, 1 revoked, 1 invalid"
        in (await asyncio.to_thread(_crawl, tmp_path / "home", site.url + "/", *args)).output
    )


async def test_an_endless_site_ends_at_the_page_budget(site: Site, tmp_path: Path) -> None:
    site.files["/robots.txt"] = (b"", "text/plain")
    result = await asyncio.to_thread(
        _crawl,
        tmp_path / "home",
        site.url + "/gen/0",
        "--depth",
        "20",
        "--max-pages",
        "15",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["stopped"] == "max_pages" and report["fetched"] == 15
    assert len([path for path in site.asked if path.startswith("/gen/")]) == 15


async def test_depth_bounds_the_links_followed(site: Site, tmp_path: Path) -> None:
    result = await asyncio.to_thread(
        _crawl, tmp_path / "home", site.url + "/gen/0", "--depth", "2", "--json"
    )
    report = json.loads(result.stdout)
    assert report["stopped"] == "done"
    assert sorted(p for p in site.asked if p.startswith("/gen/")) == [
        f"/gen/{n}" for n in sorted(range(7), key=str)
    ]


async def test_robots_txt_for_this_crawler_keeps_it_out(site: Site, tmp_path: Path) -> None:
    site.files["/"] = (b"<a href='/badges/x.json'>x</a>", "text/html")

    result = await asyncio.to_thread(_crawl, tmp_path / "home", site.url + "/", "--json")
    report = json.loads(result.stdout)
    assert report["fetched"] == 2  # robots.txt is a 404: everything allowed
    site.files["/robots.txt"] = (b"User-agent: BadgeChain-crawler\nDisallow: /\n", "text/plain")
    site.asked.clear()
    report = json.loads(
        (await asyncio.to_thread(_crawl, tmp_path / "home", site.url + "/", "--json")).stdout
    )
    assert report["fetched"] == 0 and site.asked == ["/robots.txt"]
    assert report["skipped"][0]["code"] == "robots_disallowed"


async def test_start_urls_and_private_addresses_are_refused(site: Site, tmp_path: Path) -> None:
    home = ["--home", str(tmp_path)]
    bad = await asyncio.to_thread(CliRunner().invoke, main, [*home, "crawl", "ftp://example.org/"])
    assert bad.exit_code != 0 and "crawl_start_invalid" in bad.output
    # Without --private the outbound rules refuse loopback: the site is never reached.
    site.page("/", "/badges/x.json")
    args = [*home, "crawl", site.url + "/", "--json"]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    report = json.loads(result.stdout)
    assert report["fetched"] == 0 and site.asked == []
    assert report["skipped"][0]["code"] == "fetch_address_refused"
    bad_net = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--allow-net", "10.1/8"])
    assert bad_net.exit_code != 0 and "network_invalid" in bad_net.output


PRIVATE_TARGETS = {  # a link on the (allowed) site that redirects to another private address
    "/to-ten": "http://10.0.0.1/badge.json",
    "/to-metadata": "http://169.254.169.254/latest/meta-data/",
    "/to-v6": "http://[::1]/badge.json",
    "/to-loopback": "http://127.0.0.2/badge.json",
}


async def test_a_redirect_to_a_private_address_is_skipped_and_the_crawl_goes_on(
    site: Site, tmp_path: Path
) -> None:
    """The site's host is allowed (--allow-net, not --private): it is crawled; each link of
    it that redirects to another private address is skipped with its own code."""
    site.redirects.update(PRIVATE_TARGETS)
    site.page("/", *PRIVATE_TARGETS, "/after")
    site.page("/after")
    args = ["--home", str(tmp_path), "crawl", site.url + "/", "--allow-net", "127.0.0.1/32"]
    result = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    skipped = {item["url"]: item["code"] for item in report["skipped"]}
    expected = {target.rstrip("/") for target in PRIVATE_TARGETS.values()}
    assert {url.rstrip("/") for url in skipped} == expected, skipped
    assert set(skipped.values()) == {"fetch_address_refused"}
    assert "/after" in site.asked and report["stopped"] == "done"
    assert all(site.asked.count(path) == 1 for path in PRIVATE_TARGETS)


_BOMB = """<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<feed xmlns="http://www.w3.org/2005/Atom"><title>&d;&d;&d;</title>
<entry><link href="/after-bomb"/>
<content type="html">&lt;a href="/in-content"&gt;x&lt;/a&gt;</content></entry>
</feed>"""


async def test_feeds_and_hostile_documents_cost_their_bounds_and_no_more(
    site: Site, tmp_path: Path
) -> None:
    site.files["/feed.xml"] = (_BOMB.encode(), "application/atom+xml")
    site.files["/huge"] = (b"<a href='/never'>x</a>" + b"<p>" * 200_000, "text/html")
    latin1 = "<html><body>caf\u00e9 <a href='/caf\u00e9-ok'>x</a>".encode("latin-1")
    site.files["/latin1"] = (latin1, "text/html")
    site.files["/nested"] = (b"<div>" * 10_000 + b"<a href='/deep-ok'>x</a>", "text/html")
    site.files["/not-json.json"] = (b'{"just": "data"}', "application/json")
    site.files["/photo.png"] = (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png")
    json_feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "blog",
        "items": [{"id": "1", "url": "/json-post", "content_html": "<a href='/json-inline'>b</a>"}],
    }
    site.files["/feed.json"] = (json.dumps(json_feed).encode(), "application/feed+json")
    site.page(
        "/",
        "/feed.xml",
        "/feed.json",
        "/huge",
        "/latin1",
        "/nested",
        "/not-json.json",
        "/photo.png",
    )
    args = ("--max-bytes", "65536", "--json")
    result = await asyncio.to_thread(_crawl, tmp_path / "home", site.url + "/", *args)

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    skipped = {item["url"].removeprefix(site.url): item["code"] for item in report["skipped"]}
    assert skipped["/huge"] == "fetch_too_large" and "/never" not in site.asked
    assert {"/after-bomb", "/in-content", "/deep-ok"} <= set(site.asked)
    assert {"/json-post", "/json-inline"} <= set(site.asked)  # a JSON Feed's links
    assert any(path.startswith("/caf") for path in site.asked)  # a page not in UTF-8 still read
    assert report["badges"] == []  # JSON that is no credential, a PNG with no badge


async def test_the_time_budget_cuts_a_slow_fetch_and_ends_the_crawl(
    site: Site, tmp_path: Path
) -> None:
    site.page("/", "/tarpit", "/after")
    site.page("/after")
    args = ("--max-seconds", "1", "--fetch-timeout", "60", "--json")
    result = await asyncio.to_thread(_crawl, tmp_path / "home", site.url + "/", *args)
    report = json.loads(result.stdout)
    assert report["stopped"] == "max_seconds"
    assert {item["url"].removeprefix(site.url): item["code"] for item in report["skipped"]} == {
        "/tarpit": "fetch_timeout"
    }
    assert "/after" not in site.asked


@given(st.text(max_size=2000))
@settings(max_examples=200, deadline=None)
def test_link_extraction_takes_any_text(text: str) -> None:
    links = extract_links(text, "http://example.org/a/")
    assert all(link.startswith(("http://", "https://")) for link in links)
    assert len(links) == len(set(links)) <= MAX_LINKS_PER_PAGE


async def test_a_crawl_from_a_gateways_feed_walks_its_archive_to_the_oldest_badges(
    network: NodeNetwork, tmp_path: Path
) -> None:
    """Issue 15 item 5 as a crawler meets it: from an issuer's /feed.atom it follows the
    RFC 5005 `prev-archive` link to a badge only an archive page still lists, and verifies it."""
    issuer, earner = await network.start(2)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        made = await _admin(network, http, issuer, "/admin/classes", CLASS)
        body = {"class_id": made["id"], "to": earner.did}
        oldest = (await _admin(network, http, issuer, "/admin/issue", body))["uid"]
        append_batches(issuer, 12, 5)  # 60 newer entries: its entry is on archive page 0 only
        async with http.get(f"{issuer.gateway_url}/feed.atom") as answer:
            assert oldest not in await answer.text()
    gateway = ("--gateway", issuer.gateway_url, "--json")
    result = await asyncio.to_thread(
        _crawl, tmp_path / "home", f"{issuer.gateway_url}/feed.atom", *gateway
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    found = {badge["uid"]: badge for badge in report["badges"]}
    assert found[oldest]["category"] == "valid", found
    assert found[oldest]["found_on"] == [f"{issuer.gateway_url}/feed.atom?page=0"]
