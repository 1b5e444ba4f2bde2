"""Requests awaiting an answer (bns/outstanding.py) on the virtual clock (bns/sim.py): one
timer per endpoint fails each request at the very virtual time a timer of its own would,
answers and refusals end requests at once, and a late answer is still recognised."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from badgechain.bns.dht import DhtNode, DhtSettings
from badgechain.bns.outstanding import Outstanding
from badgechain.bns.sim import SimNetwork, run_simulated, start_simulated
from badgechain.bns.values import BnsValues
from badgechain.chain.keys import KeyPair
from badgechain.storage import MemoryStore

TIMEOUT = 2.0
A, B = ("10.0.0.1", 1), ("10.0.0.2", 2)

# Each request: (seconds after the previous one it is sent, seconds until its answer or
# None for never, True when it goes to B, which refuses everything at `REFUSED_AT`).
REQUESTS = st.lists(
    st.tuples(
        st.floats(0.0, 1.5),
        st.one_of(st.none(), st.floats(0.0, 3.0)),
        st.booleans(),
    ),
    max_size=30,
)
REFUSED_AT = 2.5


def _expected(plan: list[tuple[float, float | None, bool]]) -> list[tuple[bool, float]]:
    """What a timer per request gives: (answered, when each request ended)."""
    ends, sent = [], 0.0
    for gap, answer_after, to_b in plan:
        sent += gap
        deadline = sent + TIMEOUT
        if answer_after is not None:  # two events at one instant may run in either order
            assume(abs(answer_after - TIMEOUT) > 1e-6)
            assume(not to_b or abs(sent + answer_after - REFUSED_AT) > 1e-6)
        answered = answer_after is not None and sent + answer_after < deadline
        end = sent + answer_after if answered and answer_after is not None else deadline
        if to_b and sent <= REFUSED_AT < end:
            answered, end = False, REFUSED_AT
        ends.append((answered, end))
    return ends


@settings(max_examples=60, deadline=None)
@given(REQUESTS)
def test_each_request_ends_when_its_own_timer_would_have_ended_it(
    plan: list[tuple[float, float | None, bool]],
) -> None:
    async def main() -> list[tuple[bool, float]]:
        loop = asyncio.get_running_loop()
        pending: Outstanding[int] = Outstanding(TIMEOUT)
        ends: list[tuple[bool, float]] = [(False, -1.0)] * len(plan)

        async def one(index: int, answer_after: float | None, to_b: bool) -> None:
            msg_id, address = index.to_bytes(4, "big"), B if to_b else A
            future = pending.add(loop, msg_id, address, index, loop.time())
            if answer_after is not None:
                loop.call_later(answer_after, pending.answer, msg_id, address, "reply")
            ok, _ = await future
            ends[index] = (ok, loop.time())

        loop.call_at(REFUSED_AT, pending.fail_to, B)
        tasks = []
        for index, (gap, answer_after, to_b) in enumerate(plan):
            await asyncio.sleep(gap)
            tasks.append(asyncio.ensure_future(one(index, answer_after, to_b)))
        await asyncio.gather(*tasks)
        assert len(pending) == 0
        return ends

    got = run_simulated(main)
    for (ok, at), (want_ok, want_at) in zip(got, _expected(plan), strict=True):
        assert ok == want_ok
        assert abs(at - want_at) < 1e-9


def test_a_late_answer_is_told_apart_once_and_only_from_the_address_asked() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        pending: Outstanding[str] = Outstanding(TIMEOUT)
        future = pending.add(loop, b"m1", A, "contact", loop.time())
        assert not pending.answer(b"m1", B, "forged")  # from someone not asked
        assert await future == (False, None)
        assert loop.time() == TIMEOUT
        assert not pending.answer(b"m1", A, "late")  # over: the caller has its outcome
        assert pending.late(b"m1", B) is None
        assert pending.late(b"m1", A) == "contact"
        assert pending.late(b"m1", A) is None
        # Kept for one more timeout after its own: then forgotten.
        for msg_id, sent in ((b"m2", 2.0), (b"m3", 4.5)):
            await asyncio.sleep(sent - loop.time())
            await pending.add(loop, msg_id, A, "contact", loop.time())
        assert pending.late(b"m2", A) is None and pending.late(b"m3", A) == "contact"

    run_simulated(main)


def test_stopping_fails_every_request_and_leaves_no_timer() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        pending: Outstanding[None] = Outstanding(60.0)
        futures = [pending.add(loop, bytes([i]), A, None, loop.time()) for i in range(3)]
        pending.fail_all()
        assert [await f for f in futures] == [(False, None)] * 3
        assert loop.time() == 0.0
        # Nothing is left to wake for: the virtual loop would jump to a stray timer.
        assert not [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]

    run_simulated(main)


def test_an_endpoint_times_out_at_the_rpc_timeout_with_one_timer() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        network = SimNetwork(1)
        settings = DhtSettings(id_difficulty=0, liveness_interval=3600.0)
        nodes = [
            DhtNode(KeyPair.from_seed(bytes([i]) * 32).public_key, MemoryStore(), BnsValues(),
                    settings)
            for i in range(2)
        ]  # fmt: skip
        for node in nodes:
            start_simulated(node, network)
        asker, other = nodes
        await asker.bootstrap([other.address])
        peer = asker.contacts()[0]
        await other.stop()  # its datagrams now go nowhere, silently
        started = loop.time()
        outcomes: list[Any] = await asyncio.gather(
            *(asker.protocol.request(peer, "ping") for _ in range(5))
        )
        assert outcomes == [(False, None)] * 5
        assert loop.time() - started == settings.rpc_timeout
        # Five requests into one silence are one miss: the contact is suspect, not dropped.
        assert asker.router.get(peer.id) is not None and asker.protocol.suspect(peer.id)
        await asker.stop()

    run_simulated(main)
