"""Public gateway routes: what anyone may ask a node (DESIGN.md "Gateway")."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from badgechain.bns.record import Record
from badgechain.chain.keys import did_key_from_public_key
from badgechain.chain.multibase import multibase_encode_b58

from .web import NODE, json_response, parse_uid

__all__ = ["add_routes", "record_json"]


def record_json(record: Record) -> dict[str, Any]:
    """A BNS record as the gateway shows it: DIDs and multibase, not raw bytes."""
    entry, location, revocation = record.entry, record.location, record.revocation
    return {
        "uid": multibase_encode_b58(entry.uid),
        "issuer": did_key_from_public_key(entry.issuer_key),
        "earner": did_key_from_public_key(entry.earner_key) if entry.earner_key else None,
        "created": entry.created,
        "location": None
        if location is None
        else {"urls": list(location.urls), "seq": location.seq, "hidden": not location.urls},
        "revoked": revocation is not None,
        "revocation": None
        if revocation is None
        else {"reason": revocation.reason, "revokedAt": revocation.revoked_at},
    }


async def get_bns(request: web.Request) -> web.Response:
    """GET /bns/{uid}: the merged, validated BNS record of a UID."""
    node = request.app[NODE]
    assert node.names is not None
    record = await node.names.resolve(parse_uid(request.match_info["uid"]))
    return json_response(record_json(record))


async def get_health(request: web.Request) -> web.Response:
    node = request.app[NODE]
    contacts = node.dht.contact_count() if node.dht else 0
    return json_response({"status": "ok", "did": node.did, "contacts": contacts})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/bns/{uid}", get_bns)
    app.router.add_get("/health", get_health)
