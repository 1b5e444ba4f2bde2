"""The work queue for the operator (admin): what is waiting, and a dead item's fate.

GET    /admin/queue                    every item: topic, due time, attempts, last error
POST   /admin/queue/{item_id}/retry    make an item (a dead one too) due now
DELETE /admin/queue/{item_id}          drop an item: its work is not done by the queue
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from badgechain.storage.queue import QueueItem

from .problems import Problem
from .routes import Access, Answer, Route
from .web import SERVICES, json_response

__all__ = ["ROUTES"]


def _item(request: web.Request) -> QueueItem:
    found = request.app[SERVICES].queue.find(request.match_info["item_id"][:2100])
    if found is None:
        raise Problem(404, "queue_item_not_found", "no such item in the work queue")
    return found


async def get_queue(request: web.Request) -> web.Response:
    items = request.app[SERVICES].queue.items()
    return json_response({"items": [item.to_json() for item in items]})


async def post_retry(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    item = services.queue.retry(_item(request), services.clock().timestamp())
    services.wake.set()
    return json_response(item.to_json())


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
