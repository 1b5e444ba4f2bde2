"""A verifier worker keeps the status lists it was sent (node/verifypipe.py, node/verifyworker.py):
a list the worker holds goes by name, a list fetched again goes in full and is never mistaken
for the kept one, and a verification answered from the caches opens no HTTP session."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import sign_credential
from badgechain.chain.resolve import BnsView, Resolvers, Unreachable
from badgechain.chain.statuslist import (
    STATUS_LIST_FETCHER,
    CheckedList,
    empty_bits,
    set_bit,
    status_entry,
)
from badgechain.chain.uid import uid_text
from badgechain.node import resolvers as node_resolvers
from badgechain.node.badgestore import credential_uid
from badgechain.node.config import NodeConfig
from badgechain.node.resolvers import VerifierContext, verify_with
from badgechain.node.verifypool import VerifyPool
from badgechain.node.verifyworker import EXTRA, Travelling, _unpacked

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
ISSUER = KeyPair.from_seed(bytes(range(32)))
LIST_URL = "https://status.example/lists/1"
QUESTION = (EXTRA + STATUS_LIST_FETCHER, (LIST_URL,))


def _badge(list_url: str | None = LIST_URL) -> dict[str, Any]:
    achievement = build_achievement(
        ISSUER.did, achievement_id="urn:uuid:1", name="Kept", description="D", criteria="C"
    )
    credential = build_credential(
        issuer_did=ISSUER.did,
        subject_id=KeyPair.from_seed(bytes(32)).did,
        achievement=achievement,
        valid_from=NOW - HOUR,
        credential_id="urn:uuid:2",
        credential_status=None if list_url is None else status_entry(list_url, 7),
    )
    return sign_credential(credential, ISSUER, created=NOW - HOUR)


def _list(*revoked: int) -> CheckedList:
    bits = empty_bits()
    for index in revoked:
        set_bit(bits, index)
    return CheckedList(LIST_URL, ISSUER.did, ("revocation",), bytes(bits), NOW - HOUR, NOW + HOUR)


@pytest.fixture
async def pool() -> AsyncIterator[VerifyPool]:
    made = VerifyPool(1)
    try:
        yield made
    finally:
        await asyncio.to_thread(made.close)


async def test_a_kept_list_goes_by_name_and_a_new_one_in_full(pool: VerifyPool) -> None:
    badge = _badge()
    data = json.dumps(badge).encode()
    uid = uid_text(credential_uid(badge))
    asked: list[str] = []

    def fetch(url: str) -> Any:
        asked.append(url)
        raise Unreachable("not to be asked", code="status_list_unavailable")

    def bns(_: str) -> BnsView:
        return BnsView(uid, ISSUER.did, None)

    resolvers = Resolvers(bns=bns, extra={STATUS_LIST_FETCHER: fetch})
    worker = pool._workers[0]
    clear, revoked = _list(), _list(7)

    async def verdict(checked: CheckedList) -> tuple[str, str]:
        report = await pool.verify(data, NOW, resolvers, None, None, answers={QUESTION: checked})
        return report.verdict, report.check("status").code

    assert await verdict(clear) == ("valid", "ok")
    assert worker._travelling({QUESTION: clear}) == ({}, {}, {}, {QUESTION: (LIST_URL, 0)})
    assert await verdict(clear) == ("valid", "ok")  # sent by name, taken from the worker's
    # The same URL fetched again (a new list, a bit set): sent in full, never the kept one.
    assert (await verdict(revoked))[0] == "invalid"
    assert await verdict(clear) == ("valid", "ok")
    assert asked == []


def test_a_list_the_worker_does_not_hold_is_asked_for() -> None:
    kept: dict[str, tuple[int, CheckedList]] = {}
    checked = _list()
    named: Travelling = ({}, {}, {}, {QUESTION: (LIST_URL, 3)})
    assert _unpacked(named, kept) == {}  # asked over the pipe
    assert _unpacked(({}, {}, {QUESTION: (3, checked)}, {}), kept) == {QUESTION: checked}
    assert _unpacked(named, kept) == {QUESTION: checked}
    assert _unpacked(({}, {}, {}, {QUESTION: (LIST_URL, 4)}), kept) == {}  # another version


def test_answers_travel_as_they_were_given() -> None:
    from badgechain.node.verifypipe import Worker

    view = BnsView("zUid", ISSUER.did, None, revoked=True, revocation_reason="cheated")
    answers = {("bns", ("zUid",)): view, ("bns", ("zOther",)): None, QUESTION: _list()}
    worker = Worker.__new__(Worker)  # only its table of kept lists: no process
    worker._lists, worker._tokens = {}, itertools.count()
    assert _unpacked(worker._travelling(answers), {}) == answers


async def test_a_verification_that_fetches_nothing_opens_no_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[object] = []
    real = node_resolvers._mapped_session

    def counted(*args: Any) -> Any:
        opened.append(args)
        return real(*args)

    monkeypatch.setattr(node_resolvers, "_mapped_session", counted)
    context = VerifierContext(NodeConfig(), lambda: NOW)
    report = await verify_with(context, json.dumps(_badge(None)).encode())
    assert report.check("proof").status == "passed" and opened == []
    report = await verify_with(context, json.dumps(_badge("http://127.0.0.1:9/list")).encode())
    assert report.check("status").code == "unreachable"  # the port is closed
    assert len(opened) == 1
