"""The badge page (GET /badges/{uid} as text/html) in headless Chromium with JavaScript off,
as a reader without scripts sees it: everything shown, the policy never violated, the class
name's markup shown as text, and no serious or critical axe-core finding (tests/node/
test_browser.py's browser and axe; these skip as those do)."""

from __future__ import annotations

import json

import aiohttp

from tests.node.browser import Page
from tests.node.conftest import NodeNetwork
from tests.node.test_browser import _axe_problems, browser, page  # noqa: F401 (fixtures)

NAME = "Mesh <script>alert(\"x\")</script> & 'quotes'"
CLASS = {"name": NAME, "description": "Routes <b>packets</b>", "criteria": "Lab 3"}


async def test_the_badge_page_reads_without_javascript(
    node_network: NodeNetwork,
    http: aiohttp.ClientSession,
    page: Page,  # noqa: F811
) -> None:
    (node,) = await node_network.start(1)
    admin = node_network.admin
    async with http.post(f"{node.gateway_url}/admin/classes", json=CLASS, headers=admin) as r:
        made = await r.json()
    body = {"class_id": made["id"], "to": node.did, "evidence": ["https://blog.example/p"]}
    async with http.post(f"{node.gateway_url}/admin/issue", json=body, headers=admin) as r:
        uid = (await r.json())["uid"]

    await page.call("Emulation.setScriptExecutionDisabled", value=True)
    await page.goto(f"{node.gateway_url}/badges/{uid}")
    assert await page.evaluate("document.querySelector('h1').textContent") == NAME
    assert await page.evaluate("document.title") == f"{NAME} \u2014 BadgeChain"
    scripts = await page.evaluate("[...document.scripts].map(s => s.type)")
    assert scripts == ["application/ld+json"]
    assert await page.evaluate("document.querySelectorAll('b, main script').length") == 0
    status = "document.getElementById('badge-status').dataset.status"
    assert await page.evaluate(status) == "valid"
    image = "document.querySelector('img.badge-image')"
    assert await page.evaluate(f"{image}.complete && {image}.naturalWidth > 0")  # under the CSP
    evidence = json.dumps("a[href='https://blog.example/p']")
    assert await page.evaluate(f"document.querySelector({evidence}).rel") == "ugc nofollow"
    for width in (375, 1280):  # a phone never scrolls sideways (long ids wrap)
        metrics = {"width": width, "height": 700, "deviceScaleFactor": 1, "mobile": width < 800}
        await page.call("Emulation.setDeviceMetricsOverride", **metrics)
        sideways = "document.documentElement.scrollWidth > document.documentElement.clientWidth"
        assert not await page.evaluate(sideways), width
    copied = "document.querySelector('dd code').textContent"
    assert await page.evaluate(copied) == node.did  # whole, for all its line breaks
    # axe waits on timers, which do not fire while scripts are off; the page, loaded, has none.
    await page.call("Emulation.setScriptExecutionDisabled", value=False)
    assert await _axe_problems(page) == []
