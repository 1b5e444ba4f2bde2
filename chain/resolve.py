"""What verification asks of the outside world, as plain callables passed in by the caller.

A resolver raises `Unreachable` when it cannot answer now (the verdict becomes
indeterminate), and returns None when the thing does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import BadgeChainError, IdentityError
from .keys import PublicKey, public_key_from_did_key, public_key_from_multikey, read_did_document
from .report import Check

__all__ = [
    "BadgeFetcher",
    "BnsResolver",
    "BnsView",
    "DidDocumentResolver",
    "DocumentFetcher",
    "Fetched",
    "IssuerPublishes",
    "ResolvedKey",
    "Resolvers",
    "StatusResolver",
    "TrustPolicy",
    "Unreachable",
    "did_web_document",
    "resolve_verification_method",
]


class Unreachable(BadgeChainError):
    code = "unreachable"
    http_status = 503


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    public_key: PublicKey
    controller: str
    # False when nobody but the credential itself vouches for the key (a key in a URL fragment).
    confirmed: bool


@dataclass(frozen=True, slots=True)
class BnsView:
    """What the Badge Name Server says about a UID, as verification needs it."""

    uid: str
    issuer_did: str
    earner: str | None
    revoked: bool = False
    revocation_reason: str = ""
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """The verifier's own word on issuers. `deny` fails the trust check; `allow` passes it
    (naming the issuer by `names` when registered). An issuer on neither list fails when the
    policy is an allow list, and is skipped (not listed) when it is a `registry`."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    names: Mapping[str, str] = field(default_factory=dict)
    registry: bool = False

    def check(self, issuer: str) -> Check:
        """The `trust` check of `issuer`; raises BadgeChainError (the check fails) when the
        policy refuses it."""
        if issuer in self.deny:
            raise BadgeChainError("the issuer is on the deny list", code="issuer_denied")
        if issuer in self.allow:
            name = self.names.get(issuer)
            said = f"trusted as {name}" if name else "the issuer is trusted"
            return Check("trust", "passed", "ok", said)
        if self.registry:
            return Check("trust", "skipped", "issuer_not_listed", "the issuer is not registered")
        if self.allow:
            raise BadgeChainError("the issuer is not on the allow list", code="issuer_not_trusted")
        return Check("trust", "passed", "ok", "the issuer is trusted")


DidDocumentResolver = Callable[[str], dict[str, Any] | None]
# The BNS entry of a UID; None when the DHT answered that it holds none; raises Unreachable.
BnsResolver = Callable[[str], BnsView | None]
# Whether the issuer whose signing key is this did:key publishes to the BNS (its first
# issuer-index page holds an item). Raises Unreachable when it cannot tell (the DHT did not
# answer and nothing known locally says so). Asked when a UID has no entry, and when the
# entry lookup could not be made, to learn whether the verdict depends on the BNS.
IssuerPublishes = Callable[[str], bool]
# Returns True when the status bit is set for the entry (e.g. revoked); raises BadgeChainError
# (status list forged, stale, too short) or Unreachable.
StatusResolver = Callable[[dict[str, Any]], bool]
BadgeFetcher = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True, slots=True)
class Fetched:
    """A document fetched by URL for verification (an OB 2.0 hosted assertion, a badge class,
    an issuer profile, a key, a revocation list, a JWKS)."""

    url: str  # the URL asked for
    final_url: str  # where it came from after any redirect the fetcher allowed
    content_type: str
    body: bytes


# Returns None when the server answered that nothing is there (404, 410); raises
# `Unreachable` when it could not get an answer (offline, timeout, 5xx, refused by policy).
DocumentFetcher = Callable[[str], Fetched | None]


@dataclass(frozen=True, slots=True)
class Resolvers:
    did_documents: DidDocumentResolver | None = None
    bns: BnsResolver | None = None
    # None with `bns` given: every issuer is taken to publish (a missing entry is invalid).
    bns_publishes: IssuerPublishes | None = None
    status: StatusResolver | None = None
    badges: BadgeFetcher | None = None
    trust: TrustPolicy | None = None
    # None means offline: a check that needs a fetched document is indeterminate.
    documents: DocumentFetcher | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_verification_method(
    vm_id: str, did_documents: DidDocumentResolver | None
) -> ResolvedKey:
    """Find the public key a verification method names.

    did:key resolves from the identifier; did:web through the DID document resolver; any
    other URL whose fragment is a Multikey (as 1EdTech's examples do) yields an unconfirmed key.
    """
    if not isinstance(vm_id, str) or len(vm_id) > 2048:
        raise IdentityError(
            "verificationMethod must be a URL string", code="verification_method_invalid"
        )
    controller, _, fragment = vm_id.partition("#")
    if controller.startswith("did:key:"):
        key = public_key_from_did_key(controller)
        if fragment and fragment != controller[len("did:key:") :]:
            raise IdentityError(
                "did:key fragment does not name its own key", code="verification_method_invalid"
            )
        return ResolvedKey(key, controller, confirmed=True)
    if controller.startswith("did:web:"):
        keys = read_did_document(did_web_document(controller, did_documents), controller)
        if vm_id not in keys:
            raise IdentityError(
                "the DID document lists no such assertion key", code="verification_method_unknown"
            )
        return ResolvedKey(keys[vm_id], controller, confirmed=True)
    if fragment.startswith("z6Mk"):
        return ResolvedKey(public_key_from_multikey(fragment), controller, confirmed=False)
    raise IdentityError(
        f"cannot resolve verification method {vm_id:.100}", code="verification_method_unknown"
    )


def did_web_document(did: str, did_documents: DidDocumentResolver | None) -> dict[str, Any]:
    """The DID document of a did:web; Unreachable without a resolver, an error when absent."""
    if did_documents is None:
        raise Unreachable(f"no DID resolver to read {did:.100}")
    document = did_documents(did)
    if document is None:
        raise IdentityError(f"DID document of {did:.100} not found", code="did_not_found")
    return document
