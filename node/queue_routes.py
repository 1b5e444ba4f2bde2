"""The work queue for the operator (admin): what is waiting, and a dead item's fate.

GET    /admin/queue                    every item: topic, due time, attempts, last error
POST   /admin/queue/{item_id}/retry    make an item (a dead one too) due now
DELETE /admin/queue/{item_id}          drop an item: its work is not done by the queue

An item is named for people as `topic:what` (a badge's UID, a batch id; issue 16 item 9:
no internal hex where a UID is meant); its `id` (`topic:` and the key in hex) names it too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from badgechain.chain.errors import DecodeError
from badgechain.chain.proof import format_created
from badgechain.chain.uid import UID_BYTES, Uid, parse_uid, uid_text
from badgechain.storage.queue import QueueItem, WorkQueue

from .problems import Problem
from .routes import Access, Answer, Route
from .web import SERVICES, json_response

__all__ = ["ROUTES"]


def _what(key: bytes) -> str:
    """What an item is about, as people write it: a UID, or a printable key as it is."""
    if len(key) == UID_BYTES:
        return uid_text(Uid(key))
    text = key.decode("ascii", errors="replace")
    return text if text.isprintable() and "\ufffd" not in text else key.hex()


def shown(item: QueueItem) -> dict[str, Any]:
    """An item as GET /admin/queue answers it: its stored fields, its name, its due time."""
    due_at = format_created(datetime.fromtimestamp(max(item.due, 0.0), UTC))
    return item.to_json() | {"name": f"{item.topic}:{_what(item.key)}", "due_at": due_at}


def find(queue: WorkQueue, name: str) -> QueueItem | None:
    """The item `name` names: `topic:` and the key in hex (its id), a UID, or a text key."""
    found = queue.find(name)
    if found is not None:
        return found
    topic, _, what = name.partition(":")
    try:
        found = queue.find(f"{topic}:{parse_uid(what).hex()}")
    except DecodeError:
        found = None
    return found or queue.find(f"{topic}:{what.encode().hex()}")


def _item(request: web.Request) -> QueueItem:
    found = find(request.app[SERVICES].queue, request.match_info["item_id"][:2100])
    if found is None:
        raise Problem(404, "queue_item_not_found", "no such item in the work queue")
    return found


async def get_queue(request: web.Request) -> web.Response:
    items = request.app[SERVICES].queue.items()
    return json_response({"items": [shown(item) for item in items]})


async def post_retry(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    item = services.queue.retry(_item(request), services.clock().timestamp())
    services.wake.set()
    return json_response(shown(item))


async def delete_item(request: web.Request) -> web.Response:
    item = _item(request)
    request.app[SERVICES].queue.done(item)
    return json_response({"dropped": item.id})


ROUTES: Final = (
    Route(
        "GET",
        "/admin/queue",
        get_queue,
        "The work queue: items, due times, attempts, errors",
        access=Access.ADMIN,
        ok=Answer("Json"),
    ),
    Route(
        "POST",
        "/admin/queue/{item_id}/retry",
        post_retry,
        "Make a queue item (a dead one too) due now",
        access=Access.ADMIN,
        ok=Answer("Json"),
        errors=(404,),
    ),
    Route(
        "DELETE",
        "/admin/queue/{item_id}",
        delete_item,
        "Drop a queue item",
        access=Access.ADMIN,
        ok=Answer("Json"),
        errors=(404,),
    ),
)
