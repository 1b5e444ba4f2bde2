"""A restored backpack's locations (issue 14 item 3): what the exporting node served, this
node serves now, and the BNS says so.

An export names the gateway it was made on (`gateway`). A restore queues, in the write that
puts the badges back, one `restore-location` item (node/work.py) for each restored accepted
badge whose location lies under that gateway. Its handler moves those URLs to the same paths
under this node's gateway (`earner.move`: the location signed and published, the earner's
index item with it), so verifiers stop being sent to an address that may be gone. A location
the earner had moved elsewhere (their own site) is left as it is. Like all queued work it is
retried until the BNS takes it, and a restart does not lose it.
"""

from __future__ import annotations

import json
import logging
from typing import Final

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.uid import Uid, parse_uid, uid_text
from badgechain.storage import Batch

from . import earner
from .badgestore import load_record
from .records import BadgeRecord
from .services import Services

__all__ = ["RELOCATE_TOPIC", "checked_gateway", "queue_relocation", "relocate"]

log = logging.getLogger(__name__)

RELOCATE_TOPIC: Final = "restore-location"
MAX_GATEWAY_CHARS: Final = 2048


def checked_gateway(value: object) -> str | None:
    """The export's gateway URL, or None when it names none usable (an older export)."""
    if not isinstance(value, str) or len(value) > MAX_GATEWAY_CHARS:
        return None
    return value.rstrip("/") if value.startswith(("http://", "https://")) else None


def _moved(urls: list[str], old: str, new: str) -> list[str]:
    prefix = old + "/"
    return [new.rstrip("/") + url[len(old) :] if url.startswith(prefix) else url for url in urls]


def queue_relocation(
    node: Services, batch: Batch, uid: Uid, record: BadgeRecord, old: str | None
) -> bool:
    """Queue (in `batch`) the move of a restored badge's location from the `old` gateway to
    this node's; False when there is nothing to move."""
    if old is None or old == node.gateway_url.rstrip("/"):
        return False
    if record.role != "received" or record.state != "accepted" or not record.urls:
        return False
    if _moved(list(record.urls), old, node.gateway_url) == list(record.urls):
        return False
    key = json.dumps({"uid": uid_text(uid), "from": old}).encode()
    node.queue.put(RELOCATE_TOPIC, key, node.clock().timestamp(), batch)
    return True


async def relocate(node: Services, key: bytes) -> bool:
    """The `restore-location` topic's handler: True once the location names this node (or
    the badge is no longer accepted here); a failed BNS write raises, and is retried."""
    try:
        item = json.loads(key)
        uid, old = parse_uid(item["uid"]), checked_gateway(item["from"])
    except (ValueError, TypeError, KeyError, BadgeChainError):
        log.warning("a malformed restore-location item is dropped")
        return True
    record = load_record(node.store, uid)
    if old is None or record is None or record.role != "received":
        return True
    if record.state != "accepted" or not record.urls:
        return True  # hidden or moved since: the earner decided
    changed = _moved(list(record.urls), old, node.gateway_url)
    if changed != list(record.urls):
        await earner.move(node, uid, changed)
    return True
