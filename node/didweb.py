"""A node that issues as a did:web (`badgechain init --did-web example.org[:path]`).

The did:web is kept in config.toml (`did_web`). Badges, badge classes and status lists
then name it as their issuer, and their proofs name `<did>#key-1`, a verification method
of the DID document this node serves where did:web "Read" looks for it: at
/.well-known/did.json for a bare domain, at /<path>/did.json for a DID with one path
segment (did:web:example.org:school). The domain's HTTPS server must reach this node at
that path (a reverse proxy); verifiers fetch the document over HTTPS with certificate
checks (node/outbound.py `tls_context` adds a private CA, never turns the checks off).
node/didweb_routes.py serves the path form; node/gateway.py the /.well-known form.

The node's did:key stays its own name everywhere else: the log's signer, the BNS entries'
key, what it holds as an earner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from badgechain.chain.badge import issuer_id
from badgechain.chain.errors import BadgeChainError, IdentityError
from badgechain.chain.jsonio import parse_json
from badgechain.chain.keys import build_did_web_document, did_web_url
from badgechain.chain.resolve import Resolvers

from .fetchers import MAX_DID_DOCUMENT_BYTES, get_bounded, mapped_session
from .outbound import tls_context

if TYPE_CHECKING:
    from .services import Services

__all__ = [
    "KEY_ID",
    "MAX_DID_WEB_CHARS",
    "did_web_from_text",
    "did_web_resolvers",
    "document_path",
    "issuer_did",
    "method_for",
    "served_document",
]

KEY_ID: Final = "key-1"
MAX_DID_WEB_CHARS: Final = 200


def did_web_from_text(text: str) -> str:
    """`example.org`, `example.org:school` (or the did:web itself) → the did:web; a domain
    (no IP address) and at most one path segment. IdentityError (did_invalid) otherwise."""
    text = text.strip()
    did = text if text.startswith("did:web:") else f"did:web:{text}"
    if len(did) > MAX_DID_WEB_CHARS:
        raise IdentityError(
            f"a did:web is at most {MAX_DID_WEB_CHARS} characters", code="did_invalid"
        )
    did_web_url(did)  # raises did_invalid for a bad host, an IP address, a bad segment
    host = did.removeprefix("did:web:").split(":", 1)[0]
    if "." not in host.split("%3A", 1)[0]:
        raise IdentityError(f"{host:.100} is not a domain name", code="did_invalid")
    if did.count(":") > 3:
        raise IdentityError(
            "a node serves a did:web with at most one path segment (did:web:example.org:school)",
            code="did_invalid",
        )
    return did


def document_path(did: str) -> str:
    """The URL path of the did:web's document: /.well-known/did.json or /<segment>/did.json."""
    return urlsplit(did_web_url(did)).path


def issuer_did(node: Services) -> str:
    """The DID this node issues as: its did:web when it has one, else its did:key."""
    return node.config.did_web or node.key.did


def method_for(node: Services, credential: dict[str, Any]) -> str:
    """The verification method to sign `credential` with: the did:web's key when the node
    issues it as its did:web, else the did:key's (personas, endorsements)."""
    did_web = node.config.did_web
    if did_web and issuer_id(credential) == did_web:
        return f"{did_web}#{KEY_ID}"
    return node.key.verification_method


def served_document(node: Services, path: str) -> dict[str, Any] | None:
    """The DID document this node serves at `path`, or None when its did:web lives elsewhere."""
    did = node.config.did_web
    if not did or document_path(did) != path:
        return None
    return build_did_web_document(did, node.key, KEY_ID)


async def did_web_resolvers(node: Services, credential: dict[str, Any]) -> Resolvers | None:
    """For the inbox's offline check of a badge from a did:web issuer: its DID document,
    fetched once over HTTPS (certificates checked, node/outbound.py). None for any other
    issuer, or when the document cannot be had (the check then says why)."""
    did = issuer_id(credential)
    if not did.startswith("did:web:"):
        return None
    try:
        url = did_web_url(did)
        async with mapped_session(node.config, node.settings.fetch_timeout_s) as session:
            body = await get_bounded(session, url, MAX_DID_DOCUMENT_BYTES, tls_context(node.config))
        document = None if body is None else parse_json(body, max_bytes=MAX_DID_DOCUMENT_BYTES)
    except BadgeChainError:
        return None
    if not isinstance(document, dict):
        return None
    return Resolvers(did_documents=lambda asked: document if asked == did else None)
