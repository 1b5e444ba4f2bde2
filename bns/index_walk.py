"""Walking an index's pages (bns/index.py) through a page reader: every page up to a limit,
or the first page with room for an item. The reader does the DHT lookups (bns/service.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from badgechain.chain.keys import PublicKey
from badgechain.chain.uid import Uid

from .index import EarnerPage, IssuerPage, page_is_full

__all__ = ["first_open_page", "walk_pages"]

_Page = TypeVar("_Page", IssuerPage, EarnerPage)
PageReader = Callable[[PublicKey, int], Awaitable[_Page]]


async def walk_pages(read: PageReader[_Page], owner: PublicKey, limit: int) -> list[_Page]:
    """`owner`'s pages in order until an empty one, or until they hold `limit` members."""
    pages: list[_Page] = []
    count = 0
    while count < limit:
        page = await read(owner, len(pages))
        if not page.members:
            break
        pages.append(page)
        count += len(page.members)
    return pages


async def first_open_page(
    read: PageReader[_Page], owner: PublicKey, start: int, uid: Uid
) -> tuple[int, _Page]:
    """The first page from `start` with room for `uid` (or holding it already), and its number.

    Pages fill in order, so "page n is full" is monotone in n: gallop forward then bisect,
    which costs O(log pages) reads even when other writers filled pages meanwhile.
    """

    def open_for(page: _Page) -> bool:
        return not page_is_full(page) or any(m.uid == uid for m in page.members)

    page = await read(owner, start)
    if open_for(page):
        return start, page
    full, step = start, 1
    while True:  # gallop: the first open page is above `full`
        probe = full + step
        page = await read(owner, probe)
        if open_for(page):
            break
        full, step = probe, step * 2
    open_number, open_page = probe, page
    while open_number - full > 1:  # bisect between the last full and the first open
        middle = (full + open_number) // 2
        page = await read(owner, middle)
        if open_for(page):
            open_number, open_page = middle, page
        else:
            full = middle
    return open_number, open_page
