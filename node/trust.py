"""The home's trust registry: issuers its owner trusts (by a name) or denies, and signed
registry files of keys the owner chose to follow. Every verifier of the home (the node's
routes, the CLI) reads it as a chain.resolve.TrustPolicy; docs/trust.md has the format.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import rfc8785

from badgechain.chain.errors import BadgeChainError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keys import KeyPair, public_key_from_did_key, verify_signature
from badgechain.chain.multibase import multibase_decode, multibase_encode_b58
from badgechain.chain.resolve import TrustPolicy
from badgechain.storage.errors import StorageError
from badgechain.storage.files import read_bounded, write_atomic

from .errors import NodeError

__all__ = [
    "LOCAL",
    "MAX_REGISTRY_BYTES",
    "REGISTRY_TYPE",
    "TRUST_FILE",
    "TrustEntry",
    "TrustError",
    "TrustRegistry",
    "check_follow_key",
    "check_issuer_id",
    "check_name",
    "import_registry",
    "load_registry",
    "policy_of_home",
    "policy_stamp",
    "save_registry",
    "sign_registry",
]

TRUST_FILE: Final = "trust.json"
MAX_REGISTRY_BYTES: Final = 1024 * 1024  # the home's file and any imported file
MAX_ENTRIES: Final = 10_000
MAX_NAME_CHARS: Final = 200
MAX_ID_CHARS: Final = 2048
REGISTRY_TYPE: Final = "BadgeChainTrustRegistry"
LOCAL: Final = "local"  # the source of entries the owner added by hand
# Signatures cover this tag and the JCS (RFC 8785) bytes of the file without its signature,
# so a registry signature can never pass for any other BadgeChain signature.
_DOMAIN: Final = b"badgechain/trust-registry/v1\x00"
_ISSUER_ID: Final = re.compile(r"(did:[a-z0-9]+:|https?://)[^\s\x00-\x1f\x7f]+")

Status = Literal["allow", "deny"]


class TrustError(NodeError):
    code = "trust_invalid"  # 400


@dataclass(frozen=True, slots=True)
class TrustEntry:
    id: str  # the issuer's DID (or URL, for OB 2.0 and Blockcerts issuers)
    name: str
    status: Status
    source: str  # LOCAL, or the did:key that signed the registry file it came from

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "status": self.status, "source": self.source}


@dataclass(frozen=True, slots=True)
class TrustRegistry:
    entries: tuple[TrustEntry, ...] = ()
    follows: tuple[str, ...] = ()  # did:keys whose registry files `import` accepts
    # The `issued` time of the newest file imported from each followed key (no replays).
    imported: tuple[tuple[str, str], ...] = ()

    def policy(self) -> TrustPolicy:
        """Local entries win over imported ones; among imported ones a denial wins."""
        allow: dict[str, str] = {}
        deny: set[str] = set()
        for entry in sorted(self.entries, key=lambda e: e.source == LOCAL):  # local ones last
            if entry.status == "deny":
                deny.add(entry.id)
                allow.pop(entry.id, None)
            elif entry.source == LOCAL or entry.id not in deny:
                deny.discard(entry.id)
                allow[entry.id] = entry.name
        return TrustPolicy(frozenset(allow), frozenset(deny), allow, registry=True)

    def without(self, issuer: str, source: str = LOCAL) -> TrustRegistry:
        kept = tuple(e for e in self.entries if not (e.id == issuer and e.source == source))
        return replace(self, entries=kept)

    def with_entry(self, entry: TrustEntry) -> TrustRegistry:
        entries = (*self.without(entry.id, entry.source).entries, entry)
        if len(entries) > MAX_ENTRIES:
            raise TrustError(f"a registry holds at most {MAX_ENTRIES} issuers", code="trust_full")
        return replace(self, entries=entries)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "entries": [entry.to_json() for entry in self.entries],
            "follows": list(self.follows),
            "imported": dict(self.imported),
        }


def check_issuer_id(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS or not _ISSUER_ID.fullmatch(value):
        raise TrustError(
            "an issuer is named by a DID or an http(s) URL (at most 2048 characters)",
            code="trust_issuer_invalid",
        )
    return value


def check_name(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME_CHARS or not value.isprintable():
        raise TrustError(
            f"a name is printable text of at most {MAX_NAME_CHARS} characters",
            code="trust_name_invalid",
        )
    return value


def check_follow_key(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("did:key:"):
        raise TrustError("a followed key is a did:key", code="trust_key_invalid")
    public_key_from_did_key(value)  # raises IdentityError for a malformed one
    return value


def _entry(item: object, source: str) -> TrustEntry:
    if not isinstance(item, dict):
        raise TrustError("each issuer is a JSON object", code="trust_file_invalid")
    status = item.get("status", "allow")
    if status not in ("allow", "deny"):
        raise TrustError("status is allow or deny", code="trust_file_invalid")
    name = check_name(item.get("name", ""))
    return TrustEntry(check_issuer_id(item.get("id")), name, status, source)


def _registry_of(document: object) -> TrustRegistry:
    if not isinstance(document, dict) or document.get("version") != 1:
        raise TrustError(
            f"{TRUST_FILE} is not a version 1 trust registry", code="trust_file_invalid"
        )
    entries, follows, imported = (document.get(k) for k in ("entries", "follows", "imported"))
    if not isinstance(entries, list) or not isinstance(follows, list):
        raise TrustError(f"{TRUST_FILE} needs entries and follows lists", code="trust_file_invalid")
    if not isinstance(imported, dict) or len(entries) > MAX_ENTRIES:
        raise TrustError(f"{TRUST_FILE} is malformed or too long", code="trust_file_invalid")
    return TrustRegistry(
        tuple(
            _entry(e, str(e.get("source", LOCAL)) if isinstance(e, dict) else LOCAL)
            for e in entries
        ),
        tuple(check_follow_key(k) for k in follows),
        tuple((str(k), str(v)) for k, v in imported.items()),
    )


def load_registry(home: Path) -> TrustRegistry:
    """The home's registry; an empty one when it has none yet."""
    try:
        data = read_bounded(home / TRUST_FILE, MAX_REGISTRY_BYTES)
    except StorageError as exc:
        if exc.code == "file_not_found":
            return TrustRegistry()
        raise
    return _registry_of(parse_json(data, max_bytes=MAX_REGISTRY_BYTES))


def save_registry(home: Path, registry: TrustRegistry) -> None:
    text = json.dumps(registry.to_json(), indent=2, ensure_ascii=False) + "\n"
    with _LOCK:
        write_atomic(home / TRUST_FILE, text.encode(), mode=0o600)


# The policy of each home, by the file's (mtime, size): a `trust add` reaches a running
# node's next verification without a restart, and an unchanged file is read once.
_LOCK = threading.Lock()
_POLICIES: dict[Path, tuple[tuple[int, int, int], TrustPolicy]] = {}
_FILES: dict[Path, str] = {}  # each home's trust file, as os.stat takes it (no Path per call)


def _trust_stat(home: Path) -> os.stat_result:
    """The home's trust file's stat (raises OSError when there is none)."""
    path = _FILES.get(home)
    if path is None:
        path = _FILES[home] = str(home / TRUST_FILE)
    return os.stat(path)


def policy_of_home(home: Path) -> TrustPolicy | None:
    """The TrustPolicy verifiers of `home` use; None when it has no registry (the trust
    check is then skipped with `no_policy`). A damaged file denies nothing and trusts no one."""
    try:
        stat = _trust_stat(home)
    except OSError:
        return None
    stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # a save replaces the file
    cached = _POLICIES.get(home)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        policy = load_registry(home).policy()
    except BadgeChainError:
        policy = TrustPolicy(registry=True)
    with _LOCK:
        _POLICIES[home] = (stamp, policy)
    return policy


def policy_stamp(home: Path) -> bytes:
    """Bytes that change when the home's registry does (part of a kept report's key)."""
    try:
        stat = _trust_stat(home)
    except OSError:
        return b""
    return f"\ntrust:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}".encode()


# -- signed registry files ---------------------------------------------------------------------


def _signed_bytes(document: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    try:
        return _DOMAIN + rfc8785.dumps(unsigned)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise TrustError(
            "the registry file cannot be canonicalized", code="trust_file_invalid"
        ) from exc


def sign_registry(registry: TrustRegistry, key: KeyPair, now: datetime) -> dict[str, Any]:
    """A registry file of this home's own (local) entries, signed by `key`."""
    document: dict[str, Any] = {
        "type": REGISTRY_TYPE,
        "version": 1,
        "signer": key.did,
        "issued": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "issuers": [
            {"id": e.id, "name": e.name, "status": e.status}
            for e in registry.entries
            if e.source == LOCAL
        ],
    }
    document["signature"] = multibase_encode_b58(key.sign(_signed_bytes(document)))
    return document


def _verified(document: object, follows: tuple[str, ...]) -> tuple[str, str, list[Any]]:
    """(signer, issued, issuers) of a registry file whose signature verifies by a followed key."""
    if not isinstance(document, dict) or document.get("type") != REGISTRY_TYPE:
        raise TrustError(f"not a {REGISTRY_TYPE} file", code="trust_file_invalid")
    signer, issued, issuers = (document.get(k) for k in ("signer", "issued", "issuers"))
    if not isinstance(issuers, list) or len(issuers) > MAX_ENTRIES or not isinstance(issued, str):
        raise TrustError("the file needs issued and an issuers list", code="trust_file_invalid")
    if signer not in follows:
        raise TrustError(
            f"{signer!s:.100} is not a key this home follows (`trust follow` it first)",
            code="trust_signer_not_followed",
        )
    signature = document.get("signature")
    try:
        raw = multibase_decode(signature) if isinstance(signature, str) else b""
    except BadgeChainError:
        raw = b""
    if not verify_signature(public_key_from_did_key(signer), _signed_bytes(document), raw):
        raise TrustError(
            "the registry file's signature does not verify", code="trust_signature_invalid"
        )
    return signer, issued, issuers


def import_registry(home: Path, data: bytes) -> tuple[str, int]:
    """Take in a signed registry file: its entries replace those of the same signer's
    earlier file. Returns (signer, how many issuers); refuses an older or replayed file."""
    registry = load_registry(home)
    document = parse_json(data, max_bytes=MAX_REGISTRY_BYTES)
    signer, issued, issuers = _verified(document, registry.follows)
    last = dict(registry.imported).get(signer)
    if last is not None and issued <= last:
        raise TrustError(
            f"this file (issued {issued:.40}) is not newer than the one imported ({last})",
            code="trust_registry_stale",
        )
    kept = tuple(e for e in registry.entries if e.source != signer)
    updated = replace(registry, entries=kept)
    for item in issuers:
        updated = updated.with_entry(_entry(item, signer))
    marks = {**dict(registry.imported), signer: issued}
    save_registry(home, replace(updated, imported=tuple(marks.items())))
    return signer, len(issuers)
