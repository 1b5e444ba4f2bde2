"""Answers a verification in a worker process would ask first, made on the event loop before
the job is sent (node/verifypool.py): the BNS entry of the badge's UID and the status lists
this node's cache holds fresh. Each saves the worker a question over the pipe, answered by a
thread here that waits on the loop: three thread hand-offs and two pipe messages.

Only a UID whose issuer proof verified here recently is looked up ahead, so a forged badge
with a made-up UID costs no DHT lookup it would not have cost anyway (the verifier stops at
its proof). Only a JSON credential with no did:web and no urn:bns: in it: a did:web issuer's
BNS answer is named after its DID document, read during the verification itself (or during
the walk of a linked badge's chain).
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

from badgechain.bns.errors import NotFound
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.multibase import multibase_decode
from badgechain.chain.resolve import BnsView
from badgechain.chain.staple_wire import credential_uid_text
from badgechain.chain.statuslist import STATUS_LIST_FETCHER, CheckedList
from badgechain.chain.uid import Uid

from .resolvers import BnsAccess, VerifierContext, bns_view_of
from .status_list_cache import fresh_list
from .verifyworker import EXTRA, Answers

__all__ = ["MAX_PROVEN", "answers_ahead", "note_proven"]

MAX_PROVEN: Final = 4096  # UIDs remembered as verified here (oldest out)
_MAX_STATUS_ENTRIES: Final = 8  # as chain.verify_network reads at most
_STATUS_QUESTION: Final = EXTRA + STATUS_LIST_FETCHER
# UIDs whose issuer proof verified here: only these are looked up before a verification.
_proven: OrderedDict[str, None] = OrderedDict()


def note_proven(uid: str | None) -> None:
    """Remember that `uid` (a badge's UID, as text) passed its proof check here."""
    if uid is None:
        return
    _proven[uid] = None
    _proven.move_to_end(uid)
    while len(_proven) > MAX_PROVEN:
        _proven.popitem(last=False)


def _credential(data: bytes) -> dict[str, Any] | None:
    if data.lstrip()[:1] != b"{" or b"did:web" in data or b"urn:bns:" in data:
        return None
    try:
        credential = json.loads(data)
    except (ValueError, RecursionError):  # the verifier reports it
        return None
    return credential if isinstance(credential, dict) else None


# A proven UID's bytes (base58 in pure Python: tens of microseconds), as many as are proven.
@functools.lru_cache(maxsize=MAX_PROVEN)
def _uid_bytes(uid: str) -> Uid:
    return Uid(multibase_decode(uid))


async def _bns_view(bns: BnsAccess, uid: str) -> BnsView | None:
    try:
        answer = await bns.resolve(_uid_bytes(uid))
    except NotFound:
        return None
    return bns_view_of(answer, uid, {})


def _status_urls(credential: dict[str, Any]) -> list[str]:
    status = credential.get("credentialStatus")
    entries = status if isinstance(status, list) else [status]
    urls = [
        entry.get("statusListCredential")
        for entry in entries[:_MAX_STATUS_ENTRIES]
        if isinstance(entry, dict)
    ]
    return [url for url in urls if isinstance(url, str)]


async def answers_ahead(
    context: VerifierContext,
    data: bytes,
    on_list: Callable[[str, CheckedList], None],
) -> Answers:
    """What the verification of `data` will ask, answered from this node (`on_list` is told
    each status list answered, as the traced resolver would be). A question that fails here
    is left for the worker to ask."""
    credential = _credential(data)
    if credential is None:
        return {}
    answers: Answers = {}
    uid = credential_uid_text(credential)
    if uid is not None and uid in _proven and context.bns is not None:
        # Unreachable included: the question is left to the worker, which is told so.
        with contextlib.suppress(BadgeChainError):
            answers[("bns", (uid,))] = await _bns_view(context.bns, uid)
    now = context.clock()
    for url in _status_urls(credential):
        checked = fresh_list(context.status_cache, url, now)
        if checked is not None:
            answers[(_STATUS_QUESTION, (url,))] = checked
            on_list(url, checked)
    return answers
