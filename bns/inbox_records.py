"""Earners' inbox announcements (bns/inbox.py) as a node reads and writes them on the DHT.

node/ reaches the DHT only through bns/ services; this is the one for inbox records. What a
missing or foreign announcement means for a delivery is node/inbox_client.py's to say.
"""

from __future__ import annotations

from badgechain.chain.keys import PublicKey

from .dht import DhtNode, StoreResult
from .inbox import InboxRecord, inbox_key
from .values import address_of_key

__all__ = ["InboxRecords"]


class InboxRecords:
    """The inbox announcements reachable through one DHT node."""

    def __init__(self, dht: DhtNode) -> None:
        self.dht = dht

    async def find(self, earner_key: PublicKey) -> InboxRecord | None:
        """The earner's announcement as the DHT merges it (every answer validated); None when
        the network holds none. Raises `Unreachable` when nobody answered."""
        result = await self.dht.fetch(address_of_key(inbox_key(earner_key)))
        return None if result.value is None else InboxRecord.from_wire_bytes(result.value)

    async def publish(self, record: InboxRecord) -> StoreResult:
        """Publish this node's own announcement; the DHT's writer republishes it."""
        return await self.dht.publish(record.to_wire_bytes())
