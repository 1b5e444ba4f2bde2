"""The DHT's RPC messages, typed, and their wire codec (wire version 2). Pure: no I/O.

A datagram is `\\x02` (request) or `\\x03` (reply) ‖ 20-byte message id ‖ msgpack body. A
request's body is `[method, [[sender key, sender nonce], *arguments], padding?]`; a reply's
body is the bare answer, which only the request it answers gives a meaning to, so replies are
decoded knowing the method (`Request.reply_from_body`). `REQUESTS` is the one registry of
methods. Bad input raises `WireError` with a stable code; the transport drops and counts it.
Version 1 (kinds 0 and 1, ids without a puzzle) is recognised only to be refused.
"""

from __future__ import annotations

import ipaddress
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Final, Self

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type information

from badgechain.chain.errors import BadgeChainError

from .puzzle import ID_BYTES, NONCE_BYTES

__all__ = [
    "MAX_DATAGRAM_BYTES",
    "MSG_ID_BYTES",
    "REPLY",
    "REQUEST",
    "REQUESTS",
    "Contacts",
    "FindNode",
    "FindValue",
    "Peer",
    "Ping",
    "Pong",
    "Request",
    "Sender",
    "Store",
    "StoreAnswer",
    "Value",
    "WireError",
    "decode_datagram",
    "encode_reply",
]

# One Ethernet frame minus IPv4 and UDP headers: nothing depends on IP fragmentation.
MAX_DATAGRAM_BYTES: Final = 1472
MSG_ID_BYTES: Final = 20
REQUEST, REPLY = 2, 3
OLD_KINDS: Final = (0, 1)  # wire version 1
PUBLIC_KEY_BYTES: Final = 32


class WireError(BadgeChainError):
    """A datagram that is not a well-formed version 2 message."""


def _pack(value: Any) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True))


def decode_datagram(data: bytes) -> tuple[int, bytes, Any]:
    """(kind, message id, body) of one datagram; WireError when it is not version 2."""
    kind = data[0] if data else 0xFF
    if kind in OLD_KINDS:
        raise WireError("a version 1 datagram", code="datagram_old_version")
    if kind not in (REQUEST, REPLY):
        raise WireError("not a BNS datagram", code="datagram_invalid")
    if not MSG_ID_BYTES + 2 <= len(data) <= MAX_DATAGRAM_BYTES:
        raise WireError("datagram size out of bounds", code="datagram_size")
    try:
        body = msgpack.unpackb(data[1 + MSG_ID_BYTES :], raw=False, strict_map_key=True)
    except Exception as exc:  # any malformed body is the sender's problem, not ours
        raise WireError("malformed msgpack body", code="datagram_invalid") from exc
    return kind, data[1 : 1 + MSG_ID_BYTES], body


def encode_reply(msg_id: bytes, answer: Any) -> bytes:
    """A reply datagram carrying `answer` as it goes on the wire (a typed reply's `fields`)."""
    if isinstance(answer, Reply):
        answer = answer.fields()
    return bytes([REPLY]) + msg_id + _pack(answer)


@lru_cache(maxsize=65_536)  # replies name up to k contacts, mostly ones seen before
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent a request: the address is the datagram's, the id derives from these two."""

    public_key: bytes
    nonce: bytes

    def fields(self) -> list[Any]:
        return [self.public_key, self.nonce]

    @classmethod
    def from_fields(cls, value: object) -> Self:
        if not (isinstance(value, list) and len(value) == 2):
            raise WireError("a sender is [key, nonce]", code="sender_invalid")
        key, nonce = value
        if not (isinstance(key, bytes) and len(key) == PUBLIC_KEY_BYTES):
            raise WireError("a sender key is 32 bytes", code="sender_invalid")
        if not (isinstance(nonce, bytes) and len(nonce) == NONCE_BYTES):
            raise WireError("a sender nonce is 8 bytes", code="sender_invalid")
        return cls(key, nonce)


@dataclass(frozen=True, slots=True)
class Peer:
    """A contact as replies carry it: key, IP address (never a name), port, nonce."""

    public_key: bytes
    host: str
    port: int
    nonce: bytes

    def fields(self) -> list[Any]:
        return [self.public_key, self.host, self.port, self.nonce]

    @classmethod
    def from_fields(cls, value: object) -> Self | None:
        """None when malformed: one bad contact in a reply does not spoil the others."""
        if not (isinstance(value, list) and len(value) == 4):
            return None
        key, host, port, nonce = value
        if not (isinstance(key, bytes) and len(key) == PUBLIC_KEY_BYTES):
            return None
        if not (isinstance(nonce, bytes) and len(nonce) == NONCE_BYTES):
            return None
        if not (isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536):
            return None
        # no names: resolving one would be I/O a peer controls
        if not (isinstance(host, str) and len(host) <= 45 and _is_ip(host)):
            return None
        return cls(key, host, port, nonce)


def _address(value: object) -> bytes:
    if not (isinstance(value, bytes) and len(value) == ID_BYTES):
        raise WireError("a DHT address is 20 bytes", code="address_invalid")
    return value


# --- replies ---------------------------------------------------------------------------------


class Reply(ABC):
    @abstractmethod
    def fields(self) -> Any: ...

    def to_wire_bytes(self, msg_id: bytes) -> bytes:
        return encode_reply(msg_id, self.fields())


@dataclass(frozen=True, slots=True)
class Pong(Reply):
    sender: Sender

    def fields(self) -> Any:
        return self.sender.fields()


@dataclass(frozen=True, slots=True)
class StoreAnswer(Reply):
    code: str  # "ok", "stale" or the refusal's error code

    def fields(self) -> Any:
        return self.code


@dataclass(frozen=True, slots=True)
class Contacts(Reply):
    peers: tuple[Peer, ...]
    malformed: int = 0  # items that were not contacts (counted, never used)

    def fields(self) -> Any:
        return [p.fields() for p in self.peers]

    @classmethod
    def from_fields(cls, value: object, limit: int) -> Self:
        if not isinstance(value, list):
            raise WireError("contacts are a list", code="reply_invalid")
        peers = [Peer.from_fields(item) for item in value[:limit]]
        good = tuple(p for p in peers if p is not None)
        return cls(good, len(peers) - len(good))


@dataclass(frozen=True, slots=True)
class Value(Reply):
    value: bytes

    def fields(self) -> Any:
        return {"value": self.value}


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request(ABC):
    """One RPC. `METHOD` names it on the wire; `args` are what follows the sender."""

    METHOD: ClassVar[str]
    LONG_ANSWER: ClassVar[bool] = False  # answers up to a datagram: padded when unproven

    sender: Sender

    @abstractmethod
    def args(self) -> list[Any]: ...

    @classmethod
    @abstractmethod
    def from_args(cls, sender: Sender, args: list[Any], padding: bytes) -> Self: ...

    @classmethod
    @abstractmethod
    def reply_from_body(cls, body: Any, limit: int) -> Reply: ...

    def to_wire_bytes(self, msg_id: bytes, pad_to: int = 0) -> bytes:
        """The request datagram; with `pad_to`, padded to about that many bytes."""
        message: list[Any] = [self.METHOD, [self.sender.fields(), *self.args()]]
        if pad_to:
            message.append(b"")
            short = 1 + len(msg_id) + len(_pack(message))
            message[2] = bytes(max(0, pad_to - short))
        return bytes([REQUEST]) + msg_id + _pack(message)

    @staticmethod
    def from_body(body: Any) -> Request:
        """The typed request a decoded body holds; WireError when it is not one."""
        if not (
            isinstance(body, list)
            and len(body) in (2, 3)
            and isinstance(body[1], list)
            and body[1]
            and (len(body) == 2 or isinstance(body[2], bytes))
        ):
            raise WireError(
                "a request is [method, [sender, ...], padding?]", code="request_invalid"
            )
        kind = REQUESTS.get(body[0]) if isinstance(body[0], str) else None
        if kind is None:
            raise WireError("unknown method", code="method_unknown")
        sender = Sender.from_fields(body[1][0])
        return kind.from_args(sender, body[1][1:], body[2] if len(body) == 3 else b"")


def _arity(args: list[Any], count: int) -> None:
    if len(args) != count:
        raise WireError(f"{count} arguments expected", code="request_invalid")


@dataclass(frozen=True, slots=True)
class Ping(Request):
    METHOD: ClassVar[str] = "ping"

    def args(self) -> list[Any]:
        return []

    @classmethod
    def from_args(cls, sender: Sender, args: list[Any], padding: bytes) -> Self:
        _arity(args, 0)
        return cls(sender)

    @classmethod
    def reply_from_body(cls, body: Any, limit: int) -> Reply:
        return Pong(Sender.from_fields(body))


@dataclass(frozen=True, slots=True)
class Store(Request):
    """The storing node judges address and value (it answers a refusal's code), so any
    msgpack value is carried here as it came."""

    METHOD: ClassVar[str] = "store"
    address: Any
    value: Any

    def args(self) -> list[Any]:
        return [self.address, self.value]

    @classmethod
    def from_args(cls, sender: Sender, args: list[Any], padding: bytes) -> Self:
        _arity(args, 2)
        return cls(sender, args[0], args[1])

    @classmethod
    def reply_from_body(cls, body: Any, limit: int) -> Reply:
        if not isinstance(body, str):
            raise WireError("a store answer is a string", code="reply_invalid")
        return StoreAnswer(body[:64])


@dataclass(frozen=True, slots=True)
class FindNode(Request):
    METHOD: ClassVar[str] = "find_node"
    LONG_ANSWER: ClassVar[bool] = True
    address: bytes

    def args(self) -> list[Any]:
        return [self.address]

    @classmethod
    def from_args(cls, sender: Sender, args: list[Any], padding: bytes) -> Self:
        _arity(args, 1)
        return cls(sender, _address(args[0]))

    @classmethod
    def reply_from_body(cls, body: Any, limit: int) -> Reply:
        return Contacts.from_fields(body, limit)


@dataclass(frozen=True, slots=True)
class FindValue(FindNode):
    METHOD: ClassVar[str] = "find_value"

    @classmethod
    def reply_from_body(cls, body: Any, limit: int) -> Reply:
        if isinstance(body, dict):
            if not (len(body) == 1 and isinstance(body.get("value"), bytes)):
                raise WireError("a value answer is {value: bytes}", code="reply_invalid")
            return Value(body["value"])
        return Contacts.from_fields(body, limit)


# The one registry of methods: what a request's first field may name.
REQUESTS: Final[dict[str, type[Request]]] = {
    kind.METHOD: kind for kind in (Ping, Store, FindNode, FindValue)
}
