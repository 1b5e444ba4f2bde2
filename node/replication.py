"""How far a BNS write of this node's (an accept, a move, a hide, a revocation) reached.

A write that fewer than `write_quorum` distinct hosts accepted is not lost: this node keeps
it and pushes it again every `write_retry_interval` (bns/rounds.py). The admin answers of
/admin/accept, /admin/move, /admin/hide and /admin/revoke carry `replication` so a script
can tell, and POST /admin/replication pushes the write again at once (`--wait`).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from badgechain.bns.dht import StoreResult
from badgechain.chain.uid import Uid, uid_text

from .problems import Problem
from .routes import Access, Answer, Body, Route, json_body
from .services import Services
from .web import SERVICES, json_response, parse_uid

__all__ = ["ROUTES", "replication_json", "with_replication"]


def replication_json(result: StoreResult | None, quorum: int) -> dict[str, Any] | None:
    """{accepted, asked, quorum, done} of a write's tally; None when this node wrote none."""
    if result is None:
        return None
    asked = result.accepted + sum(result.refused.values()) + result.unanswered
    return {"accepted": result.accepted, "asked": asked, "quorum": quorum, "done": result.done}


def with_replication(node: Services, uid: Uid, answer: dict[str, Any]) -> dict[str, Any]:
    """`answer` with the `replication` of this node's last write of `uid`."""
    quorum = node.settings.dht.write_quorum  # the settings its DHT node runs with
    return answer | {"replication": replication_json(node.names.writes.last(uid), quorum)}


async def post_replication(request: web.Request) -> web.Response:
    """POST /admin/replication {uid}: push this node's write of the UID's record again now."""
    node = request.app[SERVICES]
    body = json_body(request)
    text = body.get("uid") if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise Problem(400, "uid_invalid", "the body needs a `uid`: the badge's proofValue")
    uid = parse_uid(text)
    result = await node.names.writes.push_again(uid)  # Unreachable: a 503 like any DHT call
    quorum = node.settings.dht.write_quorum
    return json_response({"uid": uid_text(uid), "replication": replication_json(result, quorum)})


ROUTES: Final = (
    Route(
        "POST",
        "/admin/replication",
        post_replication,
        "Push this node's last BNS write of a badge (move, hide, revocation) again now; "
        "how many replicas hold it",
        access=Access.ADMIN,
        ok=Answer("ReplicationAnswer"),
        body=Body("UidRequest", max_bytes=4096),
        errors=(503,),
    ),
)
