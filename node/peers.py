"""GET /peers: a sample of other public gateways, learned from the DHT's peer boards
(bns/peers.py), each entry signed by its node (issue 15 item 5, for crawlers).

A public node with a `public_url` announces its gateway on its key's board when it starts,
and again every `NodeSettings.peer_announce_every_s` so its entry stays fresh. A reader
reads every board (PEER_BUCKETS, each the newest few entries of its keys), checks every
signature again, and drops entries on another key's board, from the future or older than
MAX_AGE_S, and its own; then samples them spread out (bns/peers.py `sample_boards`: one
per signer, two per network, the signers its DHT routing table has heard from first).
The answer is cached (`peers_answer_s`): the route is public, and each answer costs DHT lookups.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from badgechain.bns.peers import (
    MAX_PEER_URL_CHARS,
    PEER_BUCKETS,
    PeerAnnouncement,
    PeerBoard,
    bucket_of,
    make_peer_announcement,
    sample_boards,
)
from badgechain.chain.errors import BadgeChainError, DecodeError
from badgechain.chain.resolve import Unreachable

from .routes import Access, Answer, Route
from .services import Services
from .web import SERVICES

__all__ = ["ROUTES", "announce_peer", "sample_peers", "start_announcing"]

log = logging.getLogger(__name__)

MAX_AGE_S: Final = 3 * 86_400  # an entry not renewed for three days is gone
CLOCK_SKEW_S: Final = 600
MAX_CACHED_NODES: Final = 64
# The last answer of each node (by its key: several run in one test process).
_CACHE: dict[bytes, tuple[float, dict[str, Any]]] = {}


class PeerError(BadgeChainError):
    code = "peer_announce_failed"
    http_status = 503


async def announce_peer(node: Services) -> PeerAnnouncement:
    """Sign and publish this node's gateway on its key's board; the DHT's writer republishes."""
    url = node.gateway_url
    if len(url) > MAX_PEER_URL_CHARS:
        raise PeerError(
            f"the gateway URL is over {MAX_PEER_URL_CHARS} characters", code="peer_url_too_long"
        )
    entry = make_peer_announcement(node.key, url, int(node.clock().timestamp()))
    board = PeerBoard(bucket_of(node.key.public_key), (entry,))
    result = await node.peer_boards.publish(board)
    if result.accepted == 0:
        raise PeerError(f"every replica refused the peer announcement: {result.refused}")
    log.info("gateway announced", extra={"url": url, "bucket": board.bucket})
    return entry


async def _keep_announcing(node: Services) -> None:
    while True:
        try:
            await announce_peer(node)
            wait_s = node.settings.peer_announce_every_s
        except BadgeChainError as exc:  # e.g. a first node alone: no replica yet
            log.info("gateway announcement failed, will retry", extra={"code": exc.code})
            wait_s = node.settings.peer_announce_retry_s
        await asyncio.sleep(wait_s)


def start_announcing(node: Services) -> None:
    """On a public node that knows how others reach it (`public_url`), announce its gateway
    now and every `peer_announce_every_s`. Without one its URL would be loopback: of no use
    to others."""
    if node.config.public and node.config.public_url:
        node.spawn(_keep_announcing(node))
    elif node.config.public:
        log.info("no public_url: the gateway is not announced on the DHT's peer boards")


async def _board(node: Services, bucket: int) -> PeerBoard | None:
    try:
        async with asyncio.timeout(node.settings.peer_lookup_timeout_s):
            return await node.peer_boards.board(bucket)
    except (Unreachable, DecodeError, TimeoutError):
        return None


async def sample_peers(node: Services) -> list[PeerAnnouncement]:
    """A spread-out sample of fresh, signed announcements of other gateways."""
    found = await asyncio.gather(*(_board(node, bucket) for bucket in range(PEER_BUCKETS)))
    return sample_boards(
        [board for board in found if board is not None],
        now=int(node.clock().timestamp()),
        exclude=node.key.public_key,
        max_age_s=MAX_AGE_S,
        skew_s=CLOCK_SKEW_S,
        seen=node.peer_boards.seen_signers(),
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def peer_json(entry: PeerAnnouncement) -> dict[str, Any]:
    """An entry as anyone can check it: Ed25519 over `signed` by the key of `did`."""
    return {
        "did": entry.did,
        "url": entry.url,
        "seq": entry.seq,
        "announced": datetime.fromtimestamp(entry.seq, UTC).isoformat(),
        "signed": _b64(entry.signed_bytes()),
        "signature": _b64(entry.signature),
    }


async def get_peers(request: web.Request) -> web.Response:
    """GET /peers: other public gateways, as a sample of the DHT's announcements."""
    node = request.app[SERVICES]
    now = asyncio.get_running_loop().time()
    cached = _CACHE.get(node.key.public_key)
    if cached is None or cached[0] <= now:
        peers = await sample_peers(node)
        answer = {"peers": [peer_json(entry) for entry in peers]}
        if len(_CACHE) >= MAX_CACHED_NODES:
            _CACHE.pop(next(iter(_CACHE)))
        cached = _CACHE[node.key.public_key] = (now + node.settings.peers_answer_s, answer)
    max_age = f"public, max-age={node.settings.peers_answer_s:.0f}"
    return web.json_response(cached[1], headers={"Cache-Control": max_age})


ROUTES: Final = (
    Route(
        "GET",
        "/peers",
        get_peers,
        "A sample of other public gateways from the DHT, each entry signed by its node",
        access=Access.PUBLIC,
        ok=Answer("PeerList"),
        errors=(),
    ),
)
