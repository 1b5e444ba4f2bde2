"""/feed.atom paged by RFC 5005 archives (node/feed_archive.py): the subscription feed links
the newest complete archive page, each archive page its neighbours, and a reader walking
`prev-archive` from the subscription feed reads the whole log."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import aiohttp

from badgechain.node.feed_archive import FH_NS
from tests.node.conftest import NodeNetwork
from tests.node.test_log import ATOM, append_batches, parse_feed


def _links(feed: ET.Element) -> dict[str | None, str | None]:
    return {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}


def _seqs(feed: ET.Element) -> list[int]:
    ids = [item.findtext(f"{ATOM}id") or "" for item in feed.findall(f"{ATOM}entry")]
    return [int(entry_id.rsplit(":", 1)[1]) for entry_id in ids]


async def _feed(http: aiohttp.ClientSession, url: str | None) -> ET.Element:
    assert url is not None
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "application/atom+xml"
        return parse_feed(await response.read())


async def test_archive_pages_link_both_ways_and_cover_the_log(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    append_batches(node, 26, 5)  # entries 0 to 129: archive pages 0 and 1 are complete
    base = node.gateway_url
    current = await _feed(http, f"{base}/feed.atom")
    assert _seqs(current) == list(range(129, 79, -1))
    assert _links(current)["prev-archive"] == f"{base}/feed.atom?page=1"
    assert current.find(f"{{{FH_NS}}}archive") is None

    newest = await _feed(http, f"{base}/feed.atom?page=1")
    assert _seqs(newest) == list(range(99, 49, -1))
    assert newest.find(f"{{{FH_NS}}}archive") is not None
    assert _links(newest) == {
        "self": f"{base}/feed.atom?page=1",
        "alternate": f"{base}/log",
        "current": f"{base}/feed.atom",
        "prev-archive": f"{base}/feed.atom?page=0",
    }  # no next-archive: the subscription feed (current) comes next
    oldest = await _feed(http, f"{base}/feed.atom?page=0")
    assert _seqs(oldest) == list(range(49, -1, -1))
    assert _links(oldest)["next-archive"] == f"{base}/feed.atom?page=1"
    assert "prev-archive" not in _links(oldest)

    seen, url = set(_seqs(current)), _links(current).get("prev-archive")
    while url:  # a reader walking back from the subscription feed
        page = await _feed(http, url)
        seen |= set(_seqs(page))
        url = _links(page).get("prev-archive")
    assert seen == set(range(130))


async def test_a_page_not_yet_complete_is_not_found(
    node_network: NodeNetwork, http: aiohttp.ClientSession
) -> None:
    (node,) = await node_network.start(1)
    append_batches(node, 9, 5)  # entries 0 to 44: no page complete yet
    current = await _feed(http, f"{node.gateway_url}/feed.atom")
    assert "prev-archive" not in _links(current)
    for query, status in (("page=0", 404), ("page=x", 400), ("page=-1", 400)):
        async with http.get(f"{node.gateway_url}/feed.atom?{query}") as response:
            assert response.status == status
            assert response.content_type == "application/problem+json"
