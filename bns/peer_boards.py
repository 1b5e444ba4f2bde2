"""Peer boards (bns/peers.py) as a node reads and writes them on the DHT.

node/ reaches the DHT only through bns/ services; this is the one for the boards that
node/peers.py announces gateways on and samples them from.
"""

from __future__ import annotations

from .dht import DhtNode, StoreResult
from .peers import PeerBoard, peers_key
from .values import address_of_key

__all__ = ["PeerBoards"]


class PeerBoards:
    """The peer boards reachable through one DHT node."""

    def __init__(self, dht: DhtNode) -> None:
        self.dht = dht

    async def publish(self, board: PeerBoard) -> StoreResult:
        """Publish a board holding this node's signed entry; the DHT's writer republishes."""
        return await self.dht.publish(board.to_wire_bytes())

    async def board(self, bucket: int) -> PeerBoard | None:
        """The merged board of `bucket`; None when the network holds none. Raises
        `Unreachable` when nobody answered, DecodeError on a board that does not parse."""
        result = await self.dht.fetch(address_of_key(peers_key(bucket)))
        return None if result.value is None else PeerBoard.from_wire_bytes(result.value)

    def seen_signers(self) -> dict[bytes, float]:
        """The keys of the contacts in this node's routing table, with when last heard."""
        heard = self.dht.router.last_seen
        return {contact.public_key: heard.get(contact.id, 0.0) for contact in self.dht.contacts()}
