"""The web page at `/`, in a real headless Chromium driven over the DevTools protocol
(tests/node/browser.py), against real in-process nodes: a baked PNG dropped on the page
verifies, a revoked UID typed in reads why, and the badge and issuer pages show what the
network knows. Also the plain HTTP side: headers, static files and their allow-list.

Without Chromium these tests skip, unless $CI is set: CI installs it, so there they fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from badgechain.chain.verify import CHECK_NAMES
from badgechain.node.app import RunningNode
from badgechain.node.page_routes import STATIC_FILES
from tests.node.browser import Browser, Page, find_chromium
from tests.node.conftest import NodeNetwork, eventually

# Markup in a class name and a revocation reason: the page must show it as text.
BADGE_NAME = 'Mesh <i>routing</i> & "relays"'
REASON = "Exam retaken <b>by someone else</b>"
CLASS = {"name": BADGE_NAME, "description": "Routes packets", "criteria": "Lab 3"}
READY = "document.body && document.body.dataset.ready === 'true'"
PROBLEM = "application/problem+json"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    binary = find_chromium()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set and no chromium is installed: the web page tests need it")
        pytest.skip("no chromium installed: the web page tests need a headless Chromium")
    async with Browser.launch(binary) as running:
        yield running


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    async with browser.page() as tab:
        yield tab
        assert tab.errors == [], tab.errors  # no uncaught exception, no CSP violation


async def _post(
    http: aiohttp.ClientSession, node: RunningNode, path: str, body: Any, headers: dict[str, str]
) -> Any:
    async with http.post(node.gateway_url + path, json=body, headers=headers) as response:
        answer = await response.json(content_type=None)
        assert response.status in (200, 201), answer
        return answer


async def _issued_and_accepted(
    network: NodeNetwork, http: aiohttp.ClientSession, issuer: RunningNode, earner: RunningNode
) -> str:
    """Issue a badge to the earner node's DID; once delivered, the earner accepts it."""
    klass = await _post(http, issuer, "/admin/classes", CLASS, network.admin)
    body = {"class_id": klass["id"], "to": earner.did}
    uid = str((await _post(http, issuer, "/admin/issue", body, network.admin))["uid"])

    async def delivered() -> bool:
        async with http.get(earner.gateway_url + "/admin/inbox", headers=network.admin) as r:
            return uid in {item["uid"] for item in (await r.json())["badges"]}

    await eventually(delivered, timeout=10)
    await _post(http, earner, "/admin/accept", {"uid": uid}, network.admin)
    return uid


async def _text(page: Page, selector: str) -> str:
    return str(await page.evaluate(f"document.querySelector({json.dumps(selector)}).textContent"))


async def _report(page: Page) -> dict[str, Any]:
    """The verdict and the checks the page shows, once it shows a report."""
    await page.wait_for("!document.getElementById('report').hidden")
    report: dict[str, Any] = await page.evaluate(
        """({
            verdict: document.getElementById('verdict').dataset.verdict,
            checks: [...document.querySelectorAll('#checks .check')].map(c => ({
                name: c.dataset.name, status: c.dataset.status,
                message: c.querySelector('.check-message').textContent})),
            markup: document.querySelectorAll('#report i, #report b').length,
        })"""
    )
    return report


# -- in the browser --------------------------------------------------------------------------


async def test_a_dropped_baked_png_verifies(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page, tmp_path: Path
) -> None:
    issuer, earner = await node_network.start(2)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    async with http.get(f"{earner.gateway_url}/badges/{uid}.png") as response:
        assert response.status == 200
        baked = tmp_path / "badge.png"
        baked.write_bytes(await response.read())

    await page.goto(earner.gateway_url + "/", READY)
    await page.drop_files("#drop-zone", [baked])  # a real drag from outside the page
    report = await _report(page)

    assert report["verdict"] == "valid", report
    assert [check["name"] for check in report["checks"]] == list(CHECK_NAMES)
    by_name = {check["name"]: check for check in report["checks"]}
    assert by_name["proof"]["status"] == "passed"
    assert by_name["revocation"]["status"] == "passed"
    assert by_name["revocation"]["message"] == "Not revoked in the BNS."
    assert uid in await _text(page, ".report-uid")

    # The same badge as JSON, chosen with the file picker (the keyboard's way in).
    async with http.get(f"{earner.gateway_url}/badges/{uid}.json") as response:
        chosen = tmp_path / "badge.json"
        chosen.write_bytes(await response.read())
    await page.evaluate("document.getElementById('report').hidden = true")
    await page.set_files("#file-input", [chosen])
    report = await _report(page)
    assert report["verdict"] == "valid" and len(report["checks"]) == len(CHECK_NAMES)


async def test_a_revoked_uid_typed_in_reads_why(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner, verifier = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    await _post(http, issuer, "/admin/revoke", {"uid": uid, "reason": REASON}, node_network.admin)

    await page.goto(verifier.gateway_url + "/", READY)
    await page.type_into("#uid-input", f"urn:bns:{uid}")
    await page.press_enter()  # the keyboard submits the form
    report = await _report(page)

    assert report["verdict"] == "invalid", report
    revocation = next(check for check in report["checks"] if check["name"] == "revocation")
    assert revocation["status"] == "failed"
    assert revocation["message"] == f"Revoked by its issuer: {REASON}."
    assert report["markup"] == 0  # the reason's <b> is text, not an element
    assert "Revocation: Revoked by its issuer" in await _text(page, "#verdict-summary")


async def test_an_unknown_uid_and_bad_json_read_as_errors(
    node_network: NodeNetwork, page: Page
) -> None:
    (node,) = await node_network.start(1)
    await page.goto(node.gateway_url + "/", READY)
    await page.type_into("#uid-input", "not-a-uid")
    await page.press_enter()
    await page.wait_for("!document.getElementById('error').hidden")
    assert "[uid_invalid]" in await _text(page, "#error")

    await page.type_into("#paste-input", '{"@context": ')
    await page.evaluate("document.querySelector('#paste-form button').click()")
    report = await _report(page)
    assert report["verdict"] == "invalid"
    assert report["checks"][0]["name"] == "input" and report["checks"][0]["status"] == "failed"
    assert await page.evaluate("document.getElementById('error').hidden")


async def test_the_badge_page_and_the_issuer_page(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner, endorser = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)

    await page.goto(f"{earner.gateway_url}/#/badge/{uid}", READY)
    await page.wait_for("!!document.getElementById('badge-name')")
    assert await _text(page, "#badge-name") == BADGE_NAME
    assert await page.evaluate("document.querySelectorAll('#badge-view i').length") == 0
    assert issuer.did in await _text(page, "#badge-issuer")
    assert earner.did in await _text(page, "#badge-earner")
    assert await page.evaluate("document.getElementById('badge-status').dataset.status") == "valid"
    assert await page.evaluate("!!document.getElementById('endorsements-none')")

    # Endorsed by a third node, and accepted by the earner: the badge page lists it.
    comment = "Solid <work> & more"
    body = {"uid": uid, "comment": comment}
    endorsement = await _post(http, endorser, "/admin/endorse", body, node_network.admin)
    assert endorsement["delivery"]["status"] == "delivered", endorsement
    accepted = {"uid": endorsement["uid"]}
    await _post(http, earner, "/admin/accept", accepted, node_network.admin)
    async with http.get(f"{earner.gateway_url}/badges/{uid}/endorsements") as response:
        listed = (await response.json())["endorsements"]
    assert [item["uid"] for item in listed] == [endorsement["uid"]]
    await page.evaluate("location.reload()")
    await page.wait_for("!!document.querySelector('#endorsements .endorsement')")
    assert endorser.did in await _text(page, "#endorsements .endorsement a.did")
    assert await _text(page, "#endorsements .endorsement q") == comment
    download = await page.evaluate(
        "(() => { const a = document.getElementById('badge-download');"
        " return [a.getAttribute('href'), a.hasAttribute('download')]; })()"
    )
    assert download == [f"/badges/{uid}.png", True]
    fetched = await page.evaluate(
        "fetch(document.getElementById('badge-download').href).then(async r =>"
        " [r.status, r.headers.get('Content-Type'), (await r.arrayBuffer()).byteLength])"
    )
    assert fetched[0] == 200 and fetched[1] == "image/png" and fetched[2] > 100
    await page.wait_for(
        "(() => { const i = document.getElementById('badge-image');"
        " return i && i.complete && i.naturalWidth > 0; })()"
    )

    # The issuer link on the badge page leads to the issuer page, through the #fragment.
    await page.evaluate("document.querySelector('#badge-issuer a').click()")
    listed = f".issued-badge[data-uid={json.dumps(uid)}] a"
    await page.wait_for(f"!!document.querySelector({json.dumps(listed)})")
    assert await _text(page, "#issuer-did") == issuer.did
    await page.wait_for(
        f"document.querySelector({json.dumps(listed)}).textContent !== {json.dumps(uid)}"
    )
    assert await _text(page, listed) == BADGE_NAME  # this node holds it, so it knows its name
    assert (
        await page.evaluate("getComputedStyle(document.getElementById('issuer-more')).display")
        == "none"
    )
    assert await page.evaluate("document.getElementById('badge-view').hidden")
    await page.evaluate(f"document.querySelector({json.dumps(listed)}).click()")
    await page.wait_for("!document.getElementById('badge-view').hidden")
    await page.wait_for("!!document.getElementById('badge-name')")


async def test_a_badge_not_held_here_points_to_its_holder(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner, other = await node_network.start(3)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    await page.goto(f"{other.gateway_url}/#/badge/{uid}", READY)
    await page.wait_for("!!document.querySelector('#badge-status')")
    assert issuer.did in await _text(page, "#badge-issuer")
    assert await page.evaluate("!document.getElementById('badge-download')")
    holder = await page.evaluate("document.querySelector('.note a').getAttribute('href')")
    assert holder == f"{earner.gateway_url}/#/badge/{uid}"


# -- over plain HTTP ---------------------------------------------------------------------------


class _Markup(HTMLParser):
    """What of a page a strict CSP would block: inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script":
            self.scripts.append(named.get("src") or "")
            self._in_script = True
        if tag == "style" or "style" in named or any(name.startswith("on") for name in named):
            self.inline.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script")


async def test_the_page_is_served_with_a_strict_policy(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    async with http.get(node.gateway_url + "/") as response:
        assert response.status == 200 and response.content_type == "text/html"
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        html = await response.text()
    assert "default-src 'self'" in policy and "img-src 'self' data: blob:" in policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    markup = _Markup()
    markup.feed(html)
    assert markup.scripts == ["/static/app.js"] and markup.inline == []

    for name, media_type in STATIC_FILES.items():
        async with http.get(f"{node.gateway_url}/static/{name}") as response:
            assert (response.status, response.content_type) == (200, media_type)
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert len(await response.read()) > 100
    async with http.head(f"{node.gateway_url}/static/app.js") as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/nothing.js",
        "/static/index.html",
        "/static/APP.JS",
        "/static/..%2fapp.py",
        "/static/..%2f..%2fnode%2fapp.py",
        "/static/%2e%2e%2fpage_routes.py",
        "/static/app.js%00.py",
        "/static/",
    ],
)
async def test_only_the_listed_static_files_are_served(
    node_network: NodeNetwork, http: aiohttp.ClientSession, path: str
) -> None:
    (node,) = await node_network.start(1)
    async with http.get(URL(node.gateway_url + path, encoded=True)) as response:
        body = await response.text()
        assert response.status == 404, (path, body)
        assert response.content_type == PROBLEM
    assert "import" not in body and "def " not in body


async def test_a_shared_collection_opens_as_a_page(
    node_network: NodeNetwork, http: aiohttp.ClientSession, page: Page
) -> None:
    issuer, earner = await node_network.start(2)
    uid = await _issued_and_accepted(node_network, http, issuer, earner)
    body = {"name": "My <b>best</b> work", "uids": [uid], "description": "Chosen & shared"}
    collection = await _post(http, earner, "/admin/collections", body, node_network.admin)
    assert collection["page"] == f"{earner.gateway_url}/#/collection/{collection['id']}"

    await page.goto(collection["page"], READY)
    await page.wait_for("!!document.querySelector('#collection-badges .collected-badge')")
    assert await _text(page, "#collection-title") == "My <b>best</b> work"
    assert await _text(page, "#collection-description") == "Chosen & shared"
    assert await page.evaluate("document.querySelectorAll('#collection-view b').length") == 0
    listed = f".collected-badge[data-uid={json.dumps(uid)}]"
    assert await _text(page, f"{listed} a") == BADGE_NAME
    assert issuer.did in await _text(page, f"{listed} a.did")
    await page.evaluate(f"document.querySelector({json.dumps(listed + ' a')}).click()")
    await page.wait_for("!document.getElementById('badge-view').hidden")
    await page.wait_for("!!document.getElementById('badge-name')")

    await page.goto(f"{earner.gateway_url}/#/collection/nope", READY)
    await page.wait_for("document.getElementById('collection-status').className === 'error'")
