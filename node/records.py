"""Typed records of what the node keeps as JSON: a held badge's state (node/badgestore.py),
a badge class, a batch header, a course's harvest run, Webmentions sent and received, a
badge's mentions, a mail to send, a claim's address and a presentation challenge (journal
records), a revocation waiting to go out.

Each is a frozen dataclass with `from_bytes` and `to_bytes`, and the bytes are exactly those
the node wrote before these types: a record read from bytes remembers its members' order,
the members it does not know (or holds with another type) and whether non-ASCII text was
escaped, so a home written by an older version reads and rewrites byte for byte. A record
made in code lists its members in the order the node has always written them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, cast

__all__ = [
    "BadgeRecord",
    "BatchHeader",
    "ClaimAddress",
    "ClassRecord",
    "HarvestRun",
    "HeldChallenge",
    "JsonRecord",
    "Mention",
    "PendingMail",
    "RevocationMark",
    "WebmentionReceived",
    "WebmentionSent",
]

Check = Callable[[Any], bool]


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _object(value: Any) -> bool:
    return isinstance(value, dict)


class JsonRecord:
    """What the records share: typed fields ↔ JSON members. A subclass is a frozen dataclass
    whose fields are its members (None: absent) and `extra`, `order`, `escaped`; `_MEMBERS`
    says how to recognise each member's type."""

    __slots__ = ()
    _MEMBERS: ClassVar[Mapping[str, Check]]
    _ESCAPED: ClassVar[bool]  # how the node writes a new one: json.dumps' ensure_ascii
    extra: tuple[tuple[str, Any], ...]
    order: tuple[str, ...]
    escaped: bool | None

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        """The record stored as `raw` (a JSON object; ValueError otherwise)."""
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError(f"a {cls.__name__} is a JSON object")
        typed: dict[str, Any] = {}
        extra: list[tuple[str, Any]] = []
        for name, member in value.items():
            check = cls._MEMBERS.get(name)
            if check is not None and member is not None and check(member):
                typed[name] = tuple(member) if isinstance(member, list) else member
            else:
                extra.append((name, member))
        kept = {"extra": tuple(extra), "order": tuple(value), "escaped": raw.isascii()}
        made: Self = cast(Any, cls)(**typed, **kept)  # a dataclass: its fields are keywords
        return made

    def to_json(self) -> dict[str, Any]:
        """The members in their stored order (a new one after them, in declaration order)."""
        members = {name: getattr(self, name) for name in self._MEMBERS}
        present = {name: value for name, value in members.items() if value is not None}
        present |= dict(self.extra)
        ordered = [name for name in self.order if name in present]
        ordered += [name for name in present if name not in ordered]
        return {name: _plain(present[name]) for name in ordered}

    def to_bytes(self) -> bytes:
        escaped = self._ESCAPED if self.escaped is None else self.escaped
        return json.dumps(self.to_json(), ensure_ascii=escaped).encode()

    def get(self, name: str) -> Any:
        """A member by name, known or not, as stored (None when absent)."""
        typed = getattr(self, name) if name in self._MEMBERS else None
        return dict(self.extra).get(name) if typed is None else _plain(typed)

    def with_members(self, **changes: Any) -> Self:
        """The record with `changes` (known members or not); a new member goes last."""
        known = {name: value for name, value in changes.items() if name in self._MEMBERS}
        unknown = {name: value for name, value in changes.items() if name not in self._MEMBERS}
        # A known member stored with another type sat in `extra`: the change replaces it.
        kept = ((name, value) for name, value in self.extra if name not in known)
        extra = tuple((name, unknown.pop(name, value)) for name, value in kept)
        extra += tuple(unknown.items())
        return dataclasses.replace(self, **known, extra=extra)  # type: ignore[type-var]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True, slots=True)
class BadgeRecord(JsonRecord):
    """How this node relates to a badge it holds (Kind.INDEX b"badge-state/" + UID)."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {
        "role": _text,  # issued | received | persona | endorsement
        "state": _text,  # a BadgeState value (node/states.py)
        "at": _text,  # when it last changed, ISO 8601
        "bytes": _count,  # received: what it takes in the store (node/inbox_limits.py)...
        "sender": _text,  # ...and who sent it
        "class_id": _text,  # issued: of which class, in which batch, through which API
        "batch_id": _text,
        "via": _text,
        "endorsed": _text,  # an endorsement: the UID it endorses
        "name": _text,  # a persona: its name, and its BNS entry's creation time
        "created": _count,
        "urls": _texts,  # where its earner published it
        "revoked": _text,  # when it was revoked, ISO 8601
    }
    _ESCAPED: ClassVar[bool] = True

    role: str | None = None
    state: str | None = None
    at: str | None = None
    bytes: int | None = None
    sender: str | None = None
    class_id: str | None = None
    batch_id: str | None = None
    via: str | None = None
    endorsed: str | None = None
    name: str | None = None
    created: int | None = None
    urls: tuple[str, ...] | None = None
    revoked: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> BadgeRecord:
        """A record from the dict the node used to pass around (members in its order)."""
        return cls.from_bytes(json.dumps(dict(value)).encode())


@dataclass(frozen=True, slots=True)
class ClassRecord(JsonRecord):
    """A badge class (Kind.JOURNAL b"issuer/class/" + id): an OB 3.0 Achievement."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {
        "id": _text,
        "achievement": _object,
        "created": _text,
    }
    _ESCAPED: ClassVar[bool] = False

    id: str | None = None
    achievement: dict[str, Any] | None = None
    created: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class BatchHeader(JsonRecord):
    """A batch of rows to issue (Kind.JOURNAL b"issuer/batch/" + id)."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {
        "id": _text,
        "class_id": _text,
        "total": _count,
        "created": _text,
        "state": _text,  # running | done
    }
    _ESCAPED: ClassVar[bool] = False

    id: str | None = None
    class_id: str | None = None
    total: int | None = None
    created: str | None = None
    state: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RevocationMark(JsonRecord):
    """A revocation recorded but not yet published (Kind.JOURNAL b"issuer/revoking/" + UID)."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {"reason": _text, "at": _count}
    _ESCAPED: ClassVar[bool] = False

    reason: str | None = None
    at: int | None = None  # Unix seconds: the BNS revocation record's time
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class HarvestRun(JsonRecord):
    """The last harvest asked for of a course (Kind.JOURNAL b"course/h/" + course id):
    queued, running, or done with its summary or error (node/harvest.py)."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {
        "id": _text,
        "course": _text,
        "state": _text,  # queued | running | done
        "requested": _text,
        "started": _text,
        "summary": _object,
        "error": _object,
        "finished": _text,
    }
    _ESCAPED: ClassVar[bool] = False

    id: str | None = None
    course: str | None = None
    state: str | None = None
    requested: str | None = None
    started: str | None = None
    summary: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    finished: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class WebmentionSent(JsonRecord):
    """A Webmention this node sends (Kind.JOURNAL b"webmention/out/" + hash): from a badge's
    page to `target`; `outcome` and `at` once tried (node/webmention.py)."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {
        "uid": _text,
        "target": _text,
        "queued": _text,
        "outcome": _text,
        "at": _text,
    }
    _ESCAPED: ClassVar[bool] = True

    uid: str | None = None
    target: str | None = None
    queued: str | None = None
    outcome: str | None = None
    at: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class WebmentionReceived(JsonRecord):
    """A Webmention sent to this node (Kind.JOURNAL b"webmention/rx/" + time + hash): queued,
    then verified or refused. `error` and `checked` stay untyped members (`get`): `error` is
    stored as null once verified, which a typed member would drop as absent, and `checked`
    was always written after it, which a typed member would not be."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {
        "id": _text,
        "source": _text,
        "target": _text,
        "state": _text,  # queued | verified | refused
        "received": _text,
    }
    _ESCAPED: ClassVar[bool] = True

    id: str | None = None
    source: str | None = None
    target: str | None = None
    state: str | None = None
    received: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Mention(JsonRecord):
    """A verified mention of a badge (Kind.JOURNAL b"webmention/in/" + UID + hash)."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {
        "source": _text,
        "target": _text,
        "verified": _text,
    }
    _ESCAPED: ClassVar[bool] = True

    source: str | None = None
    target: str | None = None
    verified: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)


def _times(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, int | float) and not isinstance(item, bool) for item in value
    )


@dataclass(frozen=True, slots=True)
class PendingMail(JsonRecord):
    """A message to send (Kind.JOURNAL b"mail/" + key; node/mail.py)."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {"to": _text, "subject": _text, "body": _text}
    _ESCAPED: ClassVar[bool] = True

    to: str | None = None
    subject: str | None = None
    body: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ClaimAddress(JsonRecord):
    """Where an email-only badge's claim code was mailed, kept for a resend
    (Kind.JOURNAL b"claim-mail/" + UID; node/mail_claims.py): the address, the badge's
    name, and when new codes were sent (Unix seconds)."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {"to": _text, "name": _text, "resent": _times}
    _ESCAPED: ClassVar[bool] = True

    to: str | None = None
    name: str | None = None
    resent: tuple[float, ...] | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class HeldChallenge(JsonRecord):
    """A presentation challenge this node handed out (Kind.JOURNAL b"vp-challenge/" +
    challenge; node/challenges.py): its domain, when it expires (Unix seconds), whether
    it was used."""

    _MEMBERS: ClassVar[Mapping[str, Check]] = {"domain": _text, "expires": _time, "used": _flag}
    _ESCAPED: ClassVar[bool] = True

    domain: str | None = None
    expires: float | None = None
    used: bool | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)
    escaped: bool | None = field(default=None, compare=False)
