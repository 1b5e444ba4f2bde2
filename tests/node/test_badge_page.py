"""The badge page (node/badge_page.py) at GET /badges/{uid}: content negotiation both ways
(the JSON byte for byte as before), escaping of hostile values, the revocation shown, the
embedded JSON-LD, verified mentions listed, and what reads the page without JavaScript: a
Webmention verifier's link finding and the crawler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.cli.main import main
from badgechain.node import webmention
from badgechain.node.app import RunningNode
from badgechain.node.badge_page import BadgePage, embedded_json, render_badge_page, wants_html
from badgechain.node.crawl_links import embedded_credentials
from badgechain.node.openapi import build_document
from badgechain.node.page_routes import CONTENT_SECURITY_POLICY
from tests.node.conftest import NodeNetwork, eventually

Json = Any
HOSTILE = "Mesh <script>alert(\"x\")</script> & 'quotes' </script><!--"
CLASS = {
    "name": HOSTILE,
    "description": 'Routes </script><script>alert(1)</script> "packets"',
    "criteria": "Passed lab 3.\n\nTwice, <b>unaided</b>.",
}
VOID = frozenset({"meta", "link", "img", "wbr", "br", "input"})  # elements with no end tag
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


class Markup(HTMLParser):
    """What a reader without JavaScript sees: elements' attributes and texts."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.texts: dict[str, list[str]] = {}
        self.scripts: list[tuple[str, str]] = []  # (type, text)
        self._open: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        if tag == "script":
            self.scripts.append((dict(attrs).get("type") or "", ""))
        if tag not in VOID:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if not self._open:
            return
        tag = self._open[-1]
        self.texts.setdefault(tag, []).append(data)
        if tag == "script":
            kind, text = self.scripts[-1]
            self.scripts[-1] = (kind, text + data)

    def all(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.tags
            if name == tag and all(attrs.get(k) == v for k, v in wanted.items())
        ]

    def text(self, tag: str) -> str:
        return "".join(self.texts.get(tag, []))


# --- content negotiation, as a pure function -----------------------------------------------


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("", False),
        ("*/*", False),  # curl, aiohttp, the crawler: JSON as before
        ("application/json", False),
        ("application/ld+json", False),
        ("text/html", True),
        (BROWSER, True),
        ("text/html;q=0.5, application/json", False),
        ("application/json;q=0.5, text/html", True),
        ("text/*", True),
        ("text/html, application/*", False),  # a tie is JSON
        ("text/html;q=0", False),
        ("text/html;q=nan, */*;q=0.1", False),
        ("text/html;q=2", False),  # out of range reads as not acceptable
        ("TEXT/HTML", True),
        ("text/plain, text/html;q=0.1, */*;q=0.01", True),
        (",,;;;q=", False),
        ("application/json;q=0.1, " * 40 + "text/html", False),  # read 32 ranges, no more
    ],
)
def test_html_only_when_preferred_to_json(accept: str, html: bool) -> None:
    assert wants_html(accept) is html


def test_embedded_json_cannot_end_its_script_and_parses_back() -> None:
    credential = {"name": "</script><script>alert(1)</script>", "x": "<!-- & -->"}
    text = embedded_json(credential)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == credential


def test_evidence_links_are_ugc_unless_the_issuer_or_node_serves_them() -> None:
    credential = {
        "issuer": {"id": "did:web:school.example%3A8443", "name": "S"},
        "credentialSubject": {"achievement": {"name": "N"}},
        "evidence": [
            {"id": "https://blog.example/post", "name": "my post"},
            {"id": "https://school.example:8443/work/1"},
            {"id": "https://node.example/files/2"},
            {"id": "javascript:alert(1)", "name": "not a link"},
            "https://blog.example/plain",
        ],
    }
    page = BadgePage(credential, "zUID", "https://node.example", revoked=False)
    markup = Markup(render_badge_page(page).decode())
    rels = {a["href"]: a.get("rel") for a in markup.all("a")}
    assert rels["https://blog.example/post"] == "ugc nofollow"
    assert rels["https://blog.example/plain"] == "ugc nofollow"
    assert rels["https://school.example:8443/work/1"] is None
    assert rels["https://node.example/files/2"] is None
    assert not any(href.startswith("javascript") for href in rels)
    assert "not a link" in markup.text("li")


_TEXT = st.text(alphabet=st.sampled_from("<>&\"'/ab:\n!-=sScript"), max_size=40)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_FIELDS = ("name", "description", "id", "criteria", "evidence", "issuer", "validFrom", "url")


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.sampled_from(_FIELDS), _JSON),
    st.dictionaries(st.sampled_from(_FIELDS), _JSON),
    st.lists(st.dictionaries(st.sampled_from(("source", "verified")), _JSON), max_size=3),
)
def test_any_credential_renders_and_nothing_in_it_becomes_markup(
    top: dict[str, Any], achievement: dict[str, Any], mentions: list[dict[str, Any]]
) -> None:
    """Whatever shape a held credential has, the page renders, its only script is the
    JSON-LD, that parses back to the credential, and no value becomes an element."""
    credential = top | {"credentialSubject": {"achievement": achievement, "name": _e(top)}}
    page = BadgePage(credential, "zUID", "https://node.example", revoked=False, mentions=mentions)
    markup = Markup(render_badge_page(page).decode())
    ((kind, embedded),) = markup.scripts
    assert kind == "application/ld+json" and json.loads(embedded) == credential
    allowed = {"html", "head", "meta", "title", "link", "script", "body", "main", "article"}
    allowed |= {"h1", "h2", "p", "strong", "img", "dl", "dt", "dd", "code", "wbr", "time"}
    assert {tag for tag, _ in markup.tags} <= allowed | {"ul", "li", "a"}
    for _, attrs in markup.tags:
        assert not attrs.get("href", "").lower().startswith(("javascript", "data"))


def _e(value: object) -> str:
    return json.dumps(value)[:50]


@given(st.text(max_size=300))
def test_any_accept_header_is_read(accept: str) -> None:
    assert wants_html(accept) in (True, False)


# --- against a real node -------------------------------------------------------------------


@dataclass
class Blog:
    """A blog on 127.0.0.1: a post, and a page `files` may fill; the paths asked for."""

    base: str = ""
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)


@pytest.fixture
async def blog() -> AsyncIterator[Blog]:
    blog = Blog()

    async def handle(request: web.Request) -> web.StreamResponse:
        found = blog.files.get(request.path)
        if found is None:
            raise web.HTTPNotFound()
        return web.Response(body=found[0], content_type=found[1])

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    blog.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield blog
    finally:
        await runner.cleanup()


async def _admin(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode, path: str, body: Json
) -> Json:
    async with http.post(node.gateway_url + path, json=body, headers=network.admin) as response:
        answer = await response.json(content_type=None)
        assert response.status in (200, 201), answer
        return answer


async def _issue(
    network: NodeNetwork, http: aiohttp.ClientSession, node: RunningNode, evidence: list[str]
) -> Json:
    made = await _admin(network, http, node, "/admin/classes", CLASS)
    body = {"class_id": made["id"], "to": node.did, "evidence": evidence}
    return await _admin(network, http, node, "/admin/issue", body)


async def _get(
    http: aiohttp.ClientSession, url: str, accept: str | None, **headers: str
) -> tuple[int, bytes, Mapping[str, str]]:
    sent = headers | ({"Accept": accept} if accept is not None else {})
    async with http.get(url, headers=sent, skip_auto_headers=("Accept",)) as response:
        return response.status, await response.read(), response.headers


async def test_json_as_before_and_html_for_a_browser(
    node_network: NodeNetwork, http: aiohttp.ClientSession, blog: Blog
) -> None:
    (node,) = await node_network.start(1)
    post = f"{blog.base}/posts/1"
    issued = await _issue(node_network, http, node, [post, f"{node.gateway_url}/own"])
    uid, credential = issued["uid"], issued["credential"]
    page_url = f"{node.gateway_url}/badges/{uid}"

    _, as_file, file_headers = await _get(http, page_url + ".json", BROWSER)
    assert file_headers["Content-Type"] == "application/json; charset=utf-8"  # .json: JSON
    assert as_file == json.dumps(credential, ensure_ascii=False).encode()
    for accept in (None, "*/*", "application/json", "application/ld+json"):
        status, body, headers = await _get(http, page_url, accept)
        assert status == 200 and body == as_file, accept  # byte for byte
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert headers["ETag"] == file_headers["ETag"] and headers["Vary"] == "Accept"

    status, body, headers = await _get(http, page_url, BROWSER)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Vary"] == "Accept" and headers["ETag"] != file_headers["ETag"]
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    status, again, _ = await _get(http, page_url, BROWSER, **{"If-None-Match": headers["ETag"]})
    assert status == 304 and again == b""
    async with http.head(page_url, headers={"Accept": BROWSER}) as response:
        assert response.status == 200 and response.content_type == "text/html"
        assert await response.read() == b""

    markup = Markup(body.decode())
    assert markup.text("h1") == HOSTILE and markup.text("title").startswith(HOSTILE)
    assert b"<script>alert" not in body and b"<!--" not in body
    ((kind, embedded),) = markup.scripts  # the JSON-LD alone: no script runs
    assert kind == "application/ld+json" and json.loads(embedded) == credential
    og = {m["property"]: m["content"] for m in markup.all("meta") if "property" in m}
    assert og["og:title"] == HOSTILE and og["og:image"] == page_url + ".png"
    assert og["og:description"] == CLASS["description"]
    assert markup.all("link", rel="alternate", type="application/ld+json") == [
        {"rel": "alternate", "type": "application/ld+json", "href": page_url + ".json"}
    ]
    assert markup.all("link", rel="webmention")[0]["href"] == node.gateway_url + "/webmention"
    hrefs = {a["href"]: a.get("rel") for a in markup.all("a")}
    assert hrefs[post] == "ugc nofollow" and hrefs[f"{node.gateway_url}/own"] is None
    for suffix in (".json", ".png", ".svg"):
        assert page_url + suffix in hrefs
    assert f"{node.gateway_url}/#/badge/{uid}" in hrefs
    assert markup.all("img")[0]["src"] == f"{uid}.png"  # beside the page
    assert markup.all("p", id="badge-status")[0]["data-status"] == "valid"
    assert node.did in markup.text("code")  # issuer and earner ids, in full
    assert "Twice, <b>unaided</b>." in markup.text("p")

    # A Webmention verifier reading the page (the source) finds the post it mentions; a
    # sender mentioning the badge (the target) finds the node's endpoint, with either type.
    assert webmention._links_to(body.decode(), "text/html", page_url, post)
    for accept in ("*/*", "text/html"):
        async with aiohttp.ClientSession(headers={"Accept": accept}) as session:
            found = await webmention.discover_endpoint(session, page_url)
        assert found == node.gateway_url + "/webmention"

    status, _, headers = await _get(http, f"{node.gateway_url}/badges/zNoSuchBadge", BROWSER)
    assert status in (400, 404) and headers["Content-Type"].startswith("application/problem")


async def test_a_revoked_badge_and_its_mentions_show_on_its_page(
    node_network: NodeNetwork, http: aiohttp.ClientSession, blog: Blog
) -> None:
    """The earner's node serves the page; the revocation comes to it through the BNS."""
    node_network.settings = replace(node_network.settings, card_answer_s=0.0)  # ask each time
    issuer, earner = await node_network.start(2)
    made = await _admin(node_network, http, issuer, "/admin/classes", CLASS)
    body = {"class_id": made["id"], "to": earner.did}
    uid = (await _admin(node_network, http, issuer, "/admin/issue", body))["uid"]

    async def delivered() -> bool:
        async with http.get(earner.gateway_url + "/admin/inbox", headers=node_network.admin) as r:
            return uid in {item["uid"] for item in (await r.json())["badges"]}

    await eventually(delivered, timeout=15)
    await _admin(node_network, http, earner, "/admin/accept", {"uid": uid})
    page_url = f"{earner.gateway_url}/badges/{uid}"
    blog.files["/posts/2"] = (f'<a href="{page_url}">my badge</a>'.encode(), "text/html")
    form = {"source": f"{blog.base}/posts/2", "target": page_url}
    async with http.post(f"{earner.gateway_url}/webmention", data=form) as response:
        assert response.status == 202, await response.text()

    async def status_and_mentions() -> tuple[str, list[str]]:
        _, body, _ = await _get(http, page_url, "text/html")
        markup = Markup(body.decode())
        ugc = [a["href"] for a in markup.all("a", rel="ugc nofollow")]
        return markup.all("p", id="badge-status")[0]["data-status"], ugc

    async def listed() -> bool:
        return (await status_and_mentions()) == ("valid", [f"{blog.base}/posts/2"])

    await eventually(listed, timeout=15)
    await _admin(node_network, http, issuer, "/admin/revoke", {"uid": uid, "reason": "test"})

    async def revoked() -> bool:
        return (await status_and_mentions())[0] == "revoked"

    await eventually(revoked, timeout=15)


def test_the_openapi_document_names_both_media_types() -> None:
    answer = build_document()["paths"]["/badges/{uid}"]["get"]["responses"]["200"]
    assert set(answer["content"]) == {"application/json", "text/html"}


def _crawl(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), "crawl", "--private", *args])


async def test_the_crawler_finds_and_verifies_a_badge_from_its_page(
    node_network: NodeNetwork, http: aiohttp.ClientSession, blog: Blog, tmp_path: Path
) -> None:
    """A blog keeps a copy of the badge's page, and a forged copy: the crawler verifies the
    embedded JSON-LD of each (the forgery fails) and follows the alternate link (and the
    image links) to the node."""
    (node,) = await node_network.start(1)
    issued = await _issue(node_network, http, node, [])
    uid, credential = issued["uid"], issued["credential"]
    page_url = f"{node.gateway_url}/badges/{uid}"
    _, page, _ = await _get(http, page_url, "text/html")
    forged = dict(credential, validFrom="2020-01-01T00:00:00Z")
    forgery = page.replace(embedded_json(credential).encode(), embedded_json(forged).encode())
    assert forgery != page
    blog.files["/saved/badge.html"] = (page, "text/html")
    blog.files["/saved/forged.html"] = (forgery, "text/html")
    blog.files["/"] = (
        b'<a href="/saved/badge.html">a</a><a href="/saved/forged.html">b</a>',
        "text/html",
    )
    out = tmp_path / "report.json"
    args = ("--gateway", node.gateway_url, "--depth", "2", "--out", str(out))
    result = await asyncio.to_thread(_crawl, tmp_path / "home", f"{blog.base}/", *args)
    assert result.exit_code == 0, result.output
    found = {badge["url"]: badge for badge in json.loads(out.read_text())["badges"]}
    saved, copy = f"{blog.base}/saved/badge.html", f"{blog.base}/saved/forged.html"
    assert found[page_url + ".json"]["category"] == "valid"
    assert set(found[page_url + ".json"]["found_on"]) == {saved, copy}
    assert found[saved + "#json-ld-1"]["category"] == "valid"
    assert found[saved + "#json-ld-1"]["found_on"] == [saved]
    assert found[copy + "#json-ld-1"]["category"] == "invalid"
    assert found[copy + "#json-ld-1"]["code"] == "signature_invalid"
    found.pop(copy + "#json-ld-1")  # a forgery has no UID to name
    assert {badge["uid"] for badge in found.values()} == {uid}


def test_only_credentials_embedded_as_json_ld_are_taken() -> None:
    vc = {"@context": ["x"], "type": ["VerifiableCredential"], "name": "</script>"}
    page = (
        '<script type="application/ld+json">{"@context": "https://schema.org", "type": "Article"}'
        "</script>"
        f'<script type="application/ld+json; charset=utf-8">{embedded_json(vc)}</script>'
        '<script type="application/ld+json">{"type": "Assertion"}</script>'
        '<script type="application/ld+json">{broken</script>'
        f"<script>{json.dumps(vc)}</script>"  # a script, not data
        + f'<script type="application/ld+json">{embedded_json(vc)}</script>'
        * 9
    )
    found = [json.loads(block) for block in embedded_credentials(page)]
    assert found == [vc, {"type": "Assertion"}]  # of the first four blocks read
    assert len(embedded_credentials(page, limit=20)) == 11
