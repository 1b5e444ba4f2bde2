"""Ed25519 identities: key pairs, did:key (Multikey) and did:web DID documents."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, NewType
from urllib.parse import quote, unquote

import nacl.exceptions
import nacl.signing

from .errors import DecodeError, IdentityError
from .multibase import b58decode, b58encode

__all__ = [
    "DID_CONTEXTS",
    "KeyPair",
    "PublicKey",
    "build_did_web_document",
    "did_key_document",
    "did_key_from_public_key",
    "did_web_url",
    "public_key_from_did_key",
    "public_key_from_multikey",
    "read_did_document",
    "verify_signature",
]

PublicKey = NewType("PublicKey", bytes)

# Multicodec varint for ed25519-pub (0xed), the header of an Ed25519 Multikey.
_ED25519_PUB_HEADER = b"\xed\x01"
_DID_KEY_PREFIX = "did:key:"
_ED25519_VM_TYPES = ("Multikey", "Ed25519VerificationKey2020")
DID_CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
# did:web method-specific id: a host (port colon percent-encoded) and optional path segments.
_DID_WEB = re.compile(r"did:web:([A-Za-z0-9.\-]+(?:%3A[0-9]{1,5})?)((?::[A-Za-z0-9._~\-%]+)*)")


def public_key_from_multikey(value: str) -> PublicKey:
    """Decode an Ed25519 Multikey (`z6Mk…`), refusing any other key type or length."""
    if not isinstance(value, str) or not value.startswith("z") or len(value) > 64:
        raise IdentityError(
            "Multikey must be a base58btc multibase string", code="multikey_invalid"
        )
    try:
        raw = b58decode(value[1:])
    except DecodeError as exc:
        raise IdentityError(
            f"Multikey is not base58btc: {exc.message}", code="multikey_invalid"
        ) from exc
    if raw[:2] != _ED25519_PUB_HEADER:
        raise IdentityError(
            "Multikey is not an Ed25519 public key (0xed01)", code="multikey_invalid"
        )
    if len(raw) != 34:
        raise IdentityError("Ed25519 public key must be 32 bytes", code="multikey_invalid")
    return PublicKey(raw[2:])


def multikey_from_public_key(public_key: bytes) -> str:
    return "z" + b58encode(_ED25519_PUB_HEADER + public_key)


def did_key_from_public_key(public_key: bytes) -> str:
    return _DID_KEY_PREFIX + multikey_from_public_key(public_key)


def public_key_from_did_key(did: str) -> PublicKey:
    """The key of a did:key DID; strict: exactly `did:key:z6Mk…`, no path, query or fragment."""
    if not isinstance(did, str) or not did.startswith(_DID_KEY_PREFIX):
        raise IdentityError(f"not a did:key: {did!r:.80}", code="did_invalid")
    return _did_key(did)


@functools.lru_cache(maxsize=4096)  # issuing reads the same few DIDs many times a badge
def _did_key(did: str) -> PublicKey:
    key = public_key_from_multikey(did[len(_DID_KEY_PREFIX) :])
    if did_key_from_public_key(key) != did:
        raise IdentityError("did:key is not in canonical form", code="did_invalid")
    return key


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An Ed25519 key pair; its public name is a did:key."""

    seed: bytes
    # Derived once: rebuilding the SigningKey (a scalar multiplication) for every signature,
    # and base58 for every did, cost more than the signature itself.
    _signing: nacl.signing.SigningKey = field(init=False, repr=False, compare=False)
    _multikey: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise IdentityError("an Ed25519 seed is 32 bytes", code="key_invalid")
        signing = nacl.signing.SigningKey(bytes(self.seed))
        object.__setattr__(self, "_signing", signing)
        object.__setattr__(self, "_multikey", multikey_from_public_key(bytes(signing.verify_key)))

    def __repr__(self) -> str:  # never print the seed
        return f"KeyPair(did={self.did!r})"

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        return cls(seed)

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(bytes(self._signing.verify_key))

    @property
    def multikey(self) -> str:
        return self._multikey

    @property
    def did(self) -> str:
        return _DID_KEY_PREFIX + self.multikey

    @property
    def verification_method(self) -> str:
        return f"{self.did}#{self.multikey}"

    def sign(self, message: bytes) -> bytes:
        return self._signing.sign(message).signature


def _verification_method(vm_id: str, controller: str, public_key: bytes) -> dict[str, Any]:
    return {
        "id": vm_id,
        "type": "Multikey",
        "controller": controller,
        "publicKeyMultibase": multikey_from_public_key(public_key),
    }


def did_key_document(did: str) -> dict[str, Any]:
    """The DID document of a did:key, derived from the identifier alone."""
    key = public_key_from_did_key(did)
    vm_id = f"{did}#{did[len(_DID_KEY_PREFIX) :]}"
    return {
        "@context": list(DID_CONTEXTS),
        "id": did,
        "verificationMethod": [_verification_method(vm_id, did, key)],
        "authentication": [vm_id],
        "assertionMethod": [vm_id],
        "capabilityDelegation": [vm_id],
        "capabilityInvocation": [vm_id],
    }


def did_web_url(did: str) -> str:
    """Where a did:web document lives (did:web "Read"): https, /.well-known when no path."""
    match = _DID_WEB.fullmatch(did) if isinstance(did, str) else None
    if match is None:
        raise IdentityError(f"not a did:web: {did!r:.80}", code="did_invalid")
    host, path = unquote(match.group(1)), match.group(2)
    if re.fullmatch(r"[0-9.]+(:[0-9]+)?", host):
        raise IdentityError("did:web must name a domain, not an IP address", code="did_invalid")
    segments = [unquote(part) for part in path.split(":")[1:]]
    suffix = "/".join(segments) if segments else ".well-known"
    return f"https://{host}/{suffix}/did.json"


def did_web_from_host(host: str, port: int | None = None, path: tuple[str, ...] = ()) -> str:
    name = host if port is None else f"{host}%3A{port}"
    return ":".join(["did:web", name, *(quote(part, safe="") for part in path)])


def build_did_web_document(did: str, key: KeyPair, key_id: str = "key-1") -> dict[str, Any]:
    did_web_url(did)  # validates the DID
    vm_id = f"{did}#{key_id}"
    return {
        "@context": list(DID_CONTEXTS),
        "id": did,
        "verificationMethod": [_verification_method(vm_id, did, key.public_key)],
        "authentication": [vm_id],
        "assertionMethod": [vm_id],
    }


def read_did_document(document: object, did: str) -> dict[str, PublicKey]:
    """The Ed25519 assertion keys of a DID document, by verification method id.

    The document must name `did` as its id (did:web "Read", step 7), and only keys
    listed under assertionMethod count, since badges are assertions.
    """
    if not isinstance(document, dict) or document.get("id") != did:
        raise IdentityError("DID document id does not match the DID", code="did_document_invalid")
    methods = {}
    for vm in document.get("verificationMethod") or []:
        if isinstance(vm, dict) and isinstance(vm.get("id"), str):
            methods[_absolute_vm_id(vm["id"], did)] = vm
    keys: dict[str, PublicKey] = {}
    for ref in document.get("assertionMethod") or []:
        vm = ref if isinstance(ref, dict) else methods.get(_absolute_vm_id(ref, did))
        if not isinstance(vm, dict) or vm.get("controller") != did:
            continue
        # Ed25519VerificationKey2020 carries the same Multikey value (Ed25519Signature2020 DIDs).
        if vm.get("type") in _ED25519_VM_TYPES and isinstance(vm.get("publicKeyMultibase"), str):
            keys[_absolute_vm_id(vm["id"], did)] = public_key_from_multikey(
                vm["publicKeyMultibase"]
            )
    return keys


def _absolute_vm_id(vm_id: object, did: str) -> str:
    if not isinstance(vm_id, str):
        return ""
    return did + vm_id if vm_id.startswith("#") else vm_id
