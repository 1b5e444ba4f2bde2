"""What the BNS says of each held badge: a backpack lists a badge its issuer revoked as revoked.

A badge's state on the earner's node is only what happened there (delivered, accepted,
hidden); a revocation is written by the issuer into the badge's BNS record. So a listing
that is to be believed asks the BNS for every held badge that has a UID, a few at a time,
each within a bound: an answer that does not come says "unknown", never "not revoked".
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from badgechain.bns.errors import NotFound
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.uid import parse_uid

from .backpack import HeldBadge
from .services import Services

__all__ = ["MAX_CHECKED", "with_bns_status"]

MAX_CHECKED: Final = 1_000  # badges asked about in one listing; the rest say "not_checked"
_AT_ONCE: Final = 8
_EACH_S: Final = 10.0


async def with_bns_status(node: Services, held: list[HeldBadge]) -> list[dict[str, Any]]:
    """Each badge's JSON with `bns`: revoked (and `revocation`), standing, not_found,
    unreachable, not_checked, or none (no UID: an import from another system)."""
    gate = asyncio.Semaphore(_AT_ONCE)

    async def one(index: int, badge: HeldBadge) -> dict[str, Any]:
        answer = badge.to_json()
        if badge.uid is None:
            return answer | {"bns": "none"}
        if index >= MAX_CHECKED:
            return answer | {"bns": "not_checked"}
        async with gate:
            return answer | await _status(node, badge.uid)

    return list(await asyncio.gather(*(one(i, badge) for i, badge in enumerate(held))))


async def _status(node: Services, uid_text: str) -> dict[str, Any]:
    try:
        record = await asyncio.wait_for(node.names.resolve(parse_uid(uid_text)), _EACH_S)
    except NotFound:
        return {"bns": "not_found"}
    except (BadgeChainError, TimeoutError):  # nobody answered, or no answer held up
        return {"bns": "unreachable"}
    revocation = record.revocation
    if revocation is None:
        return {"bns": "standing"}
    return {
        "bns": "revoked",
        "revocation": {"reason": revocation.reason, "revoked_at": revocation.revoked_at},
    }
