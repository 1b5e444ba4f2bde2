"""node/verifypool.py: worker processes give the reports a thread here gives, a worker's death
is an internal error (the gateway's 503) and the worker is replaced, the queue is bounded."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import sign_credential
from badgechain.chain.resolve import BnsView, Resolvers, Unreachable
from badgechain.chain.uid import uid_text
from badgechain.chain.verify import Report, verify_badge
from badgechain.node.badgestore import credential_uid
from badgechain.node.verifypool import VerifyPool

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
ISSUER = KeyPair.from_seed(bytes(range(32)))
INTEROP = Path(__file__).resolve().parents[3] / "shared" / "interop"


def _badge() -> dict[str, Any]:
    achievement = build_achievement(
        ISSUER.did,
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
        name="Pools",
        description="Verifies on every core",
        criteria="Ran",
    )
    credential = build_credential(
        issuer_did=ISSUER.did,
        subject_id=KeyPair.generate().did,
        achievement=achievement,
        valid_from=NOW - dt.timedelta(days=1),
        credential_id=f"urn:uuid:{uuid.uuid4()}",
    )
    return sign_credential(credential, ISSUER, created=NOW - dt.timedelta(days=1))


def _bns(revoked: bool) -> Callable[[str], BnsView | None]:
    def bns(uid: str) -> BnsView | None:
        return BnsView(uid, ISSUER.did, None, revoked=revoked, revocation_reason="cheated")

    return bns


def _unreachable(uid: str) -> BnsView | None:
    raise Unreachable("the DHT is away", code="dht_unreachable")


@pytest.fixture
async def pool() -> AsyncIterator[VerifyPool]:
    made = VerifyPool(2)
    try:
        yield made
    finally:
        await asyncio.to_thread(made.close)


async def _both(
    pool: VerifyPool, data: bytes, resolvers: Resolvers, uid: str | None = None
) -> tuple[Report, Report]:
    here = await asyncio.to_thread(
        verify_badge, data, now=NOW, resolvers=resolvers, expected_uid=uid
    )
    there = await pool.verify(data, NOW, resolvers, uid, None)
    return here, there


async def test_workers_give_the_reports_a_thread_here_gives(pool: VerifyPool) -> None:
    badge = _badge()
    tampered = json.loads(json.dumps(badge))
    tampered["credentialSubject"]["achievement"]["name"] = "Forged"
    data = json.dumps(badge).encode()
    uid = uid_text(credential_uid(badge))
    cases = [
        (data, Resolvers(bns=_bns(False)), uid),
        (data, Resolvers(bns=_bns(True)), uid),  # revoked in the BNS
        (data, Resolvers(bns=_unreachable), None),  # an error crosses the pipe as raised
        (data, Resolvers(bns=_bns(False)), "zWrongUid"),
        (json.dumps(tampered).encode(), Resolvers(bns=_bns(False)), None),
        (b"\x89PNG not really", Resolvers(), None),
        (b"{", Resolvers(), None),
    ]
    verdicts = set()
    for case_data, resolvers, expected in cases:
        here, there = await _both(pool, case_data, resolvers, expected)
        assert there == here and there.to_json() == here.to_json()
        verdicts.add(there.verdict)
    assert verdicts == {"valid", "invalid", "indeterminate"}


async def test_interop_badges_get_the_same_reports(pool: VerifyPool) -> None:
    if not INTEROP.is_dir():
        pytest.skip("../shared/interop is absent")
    files = sorted((INTEROP / "examples").rglob("*.json"))[:12]
    assert files
    for path in files:
        here, there = await _both(pool, path.read_bytes(), Resolvers())
        assert there == here, path.name


async def test_a_worker_that_dies_mid_job_is_an_internal_error_and_is_replaced() -> None:
    pool = VerifyPool(1)
    try:
        data = json.dumps(_badge()).encode()
        assert (await pool.verify(data, NOW, Resolvers(), None, None)).verdict == "valid"
        [pid] = pool.pids()

        def dying(uid: str) -> BnsView | None:
            os.kill(pid, signal.SIGKILL)  # the worker waits for this answer, and dies
            return BnsView(uid, ISSUER.did, None)

        report = await pool.verify(data, NOW, Resolvers(bns=dying), None, None)
        assert [c.code for c in report.checks if c.status == "failed"] == ["internal_error"]
        assert pool.pids() != [pid]
        again = await pool.verify(data, NOW, Resolvers(bns=_bns(False)), None, None)
        assert again.verdict == "valid"
    finally:
        await asyncio.to_thread(pool.close)


@pytest.mark.parametrize("bound", [{"max_jobs": 1}, {"max_bytes": 100}])
async def test_jobs_past_the_bound_are_refused_at_once(bound: dict[str, int]) -> None:
    pool = VerifyPool(1, **bound)  # a badge over max_bytes runs when it is alone
    release = threading.Event()
    asked = threading.Event()

    def slow(uid: str) -> BnsView | None:
        asked.set()
        release.wait(30)
        return BnsView(uid, ISSUER.did, None)

    try:
        data = json.dumps(_badge()).encode()
        first = asyncio.ensure_future(pool.verify(data, NOW, Resolvers(bns=slow), None, None))
        assert await asyncio.to_thread(asked.wait, 30)
        refused = await pool.verify(data, NOW, Resolvers(), None, None)
        assert refused.checks[0].code == "internal_error" and "busy" in refused.checks[0].message
        release.set()
        assert (await first).verdict == "valid"
    finally:
        release.set()
        await asyncio.to_thread(pool.close)


async def test_a_job_waiting_for_an_answer_does_not_hold_up_the_worker() -> None:
    pool = VerifyPool(1)
    release = threading.Event()
    asked = threading.Event()

    def stuck(uid: str) -> BnsView | None:  # a DHT lookup that takes its time
        asked.set()
        release.wait(30)
        return BnsView(uid, ISSUER.did, None)

    try:
        data = json.dumps(_badge()).encode()
        waiting = asyncio.ensure_future(pool.verify(data, NOW, Resolvers(bns=stuck), None, None))
        assert await asyncio.to_thread(asked.wait, 30)
        for _ in range(3):  # the one worker verifies others meanwhile
            other = await pool.verify(data, NOW, Resolvers(bns=_bns(True)), None, None)
            assert other.verdict == "invalid"
        assert not waiting.done()
        release.set()
        assert (await waiting).verdict == "valid"
    finally:
        release.set()
        await asyncio.to_thread(pool.close)


async def test_resolvers_that_cannot_travel_are_used_here(pool: VerifyPool) -> None:
    data = json.dumps(_badge()).encode()
    resolvers = Resolvers(bns=_bns(False), extra={"a lock": threading.Lock()})
    here, there = await _both(pool, data, resolvers)
    assert there == here and there.verdict == "valid"


async def test_questions_answered_ahead_are_not_asked(pool: VerifyPool) -> None:
    badge = _badge()
    data = json.dumps(badge).encode()
    uid = uid_text(credential_uid(badge))
    view = BnsView(uid, ISSUER.did, None, revoked=True, revocation_reason="cheated")
    answers = {("bns", (uid,)): view}
    report = await pool.verify(data, NOW, Resolvers(bns=_unreachable), None, None, answers=answers)
    assert report.verdict == "invalid" and report.check("revocation").code == "revoked"
    ready = await pool.verify_json(data, NOW, Resolvers(bns=_bns(False)), None, None)
    assert (
        json.loads(ready.body)
        == (await pool.verify(data, NOW, Resolvers(bns=_bns(False)), None, None)).to_json()
    )
    assert (ready.failed_inside, ready.proven_uid) == (False, uid)
