"""The inbox's durable counts (node/inbox_counts.py): they always equal a recount of the badge
states, they come back from a scan on a home written before them, and the inbox limits hold
on such a home from its first delivery on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from badgechain.chain.keys import KeyPair
from badgechain.node import backpack, earner, inbox_counts, inbox_limits
from badgechain.node.app import Node, RunningNode
from badgechain.node.badgestore import credential_uid, save_badge
from badgechain.node.config import NodeConfig
from badgechain.node.inbox_limits import badge_size, sender_of
from badgechain.node.records import BadgeRecord
from badgechain.storage import Kind, LevelStore, Store
from tests.bns.network import TEST_SETTINGS
from tests.node.test_earner import sign_badge

EARNER = KeyPair.from_seed(bytes(range(7, 39)))
ALICE, BOB = KeyPair.from_seed(bytes(range(8, 40))), KeyPair.from_seed(bytes(range(9, 41)))


def _inbox_state(badge: dict[str, Any], **changes: Any) -> BadgeRecord:
    """The state `earner.receive` wrote for a delivered badge (before the counts, too)."""
    fields: dict[str, Any] = {"role": "received", "state": "inbox", "at": "2026-12-04T00:00"}
    fields |= {"bytes": badge_size(badge), "sender": sender_of(badge), **changes}
    return BadgeRecord(**fields)


def _counts(store: Store, sender: KeyPair) -> inbox_counts.InboxRoom:
    return inbox_counts.room(store, sender_of({"issuer": sender.did}))


def _recounted(store: Store, sender: KeyPair) -> inbox_counts.InboxRoom:
    """The counts a scan gives: what the kept ones must always equal."""
    with store.batch() as batch:
        inbox_counts.forget(batch)
    return _counts(store, sender)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return LevelStore(tmp_path / "db")


def test_a_home_written_before_the_counts_is_recounted_once(store: Store) -> None:
    delivered = [sign_badge(ALICE, EARNER.did) for _ in range(3)] + [sign_badge(BOB, EARNER.did)]
    for badge in delivered:  # as this version's receive wrote them: no counts
        save_badge(store, badge, _inbox_state(badge))
    claimed = sign_badge(BOB, EARNER.did)  # a claim records neither size nor sender
    save_badge(store, claimed, BadgeRecord(role="received", state="inbox", via="claim"))
    kept = sign_badge(ALICE, EARNER.did)
    save_badge(store, kept, _inbox_state(kept, state="accepted"))
    assert store.get(Kind.JOURNAL, b"inbox-room/total") is None

    room = _counts(store, ALICE)
    alice_bytes = sum(badge_size(b) for b in delivered[:3])
    total = alice_bytes + badge_size(delivered[3]) + badge_size(claimed)
    assert room == inbox_counts.InboxRoom(5, total, alice_bytes)
    assert _counts(store, BOB).sender_bytes == total - alice_bytes
    members = list(store.scan(Kind.INDEX, inbox_counts.MEMBER_PREFIX))
    assert len(members) == 5  # the accepted badge is not in the inbox


def test_adding_and_removing_keeps_the_counts_equal_to_a_recount(store: Store) -> None:
    badges = [sign_badge(ALICE if n % 3 else BOB, EARNER.did) for n in range(9)]
    for badge in badges:
        inbox_counts.save(store, badge, _inbox_state(badge))
    again = badges[0]  # counted once, however often it is saved
    inbox_counts.save(store, again, _inbox_state(again))
    assert _counts(store, ALICE).badges == 9
    for badge in badges[::2]:  # accepted or rejected: it leaves the inbox
        uid = credential_uid(badge)
        with store.batch() as batch:
            inbox_counts.remove(store, batch, uid)
        with store.batch() as batch:  # a second removal changes nothing
            inbox_counts.remove(store, batch, uid)
    kept = (_counts(store, ALICE), _counts(store, BOB))
    assert kept[0].badges == 4
    # The recount sees the states: those removed are still "inbox" here, so mark them.
    for badge in badges[::2]:
        save_badge(store, badge, _inbox_state(badge, state="accepted"))
    assert (_recounted(store, ALICE), _counts(store, BOB)) == kept
    for badge in badges[1::2]:
        with store.batch() as batch:
            inbox_counts.remove(store, batch, credential_uid(badge))
    assert _counts(store, ALICE) == inbox_counts.InboxRoom(0, 0, 0)
    assert list(store.scan(Kind.JOURNAL, b"inbox-room/sender/")) == []


# -- on a node: the limits hold from the first delivery to a home without counts ------------


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[RunningNode]:
    home = tmp_path / "node"
    home.mkdir()
    config = NodeConfig(name="earner", dht_port=0, http_port=0)
    started = await Node(home, EARNER, config, "t" * 40, dht_settings=TEST_SETTINGS).start()
    try:
        yield started
    finally:
        await started.stop()


async def test_a_delivery_to_a_home_without_counts_meets_the_limits(
    node: RunningNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = [sign_badge(ALICE, node.did) for _ in range(3)]
    for badge in old:  # what an earlier version's inbox holds, uncounted
        save_badge(node.store, badge, _inbox_state(badge))
    monkeypatch.setattr(earner, "MAX_INBOX_BADGES", 4)
    async with asyncio.timeout(30):
        await earner.receive(node, sign_badge(BOB, node.did))
        with pytest.raises(earner.InboxFull):
            await earner.receive(node, sign_badge(BOB, node.did))
        earner.reject(node, credential_uid(old[0]))  # room for one more
        size = badge_size(old[1])
        monkeypatch.setattr(inbox_limits, "MAX_INBOX_SENDER_BYTES", 2 * size + size // 2)
        with pytest.raises(inbox_limits.InboxSenderFull):  # Alice holds two already
            await earner.receive(node, sign_badge(ALICE, node.did))
        await earner.receive(node, sign_badge(BOB, node.did))
    counted = _counts(node.store, BOB)
    assert counted.badges == 4 and counted == _recounted(node.store, BOB)
    assert len(earner.inbox_items(node)) == 4


async def test_deliveries_arriving_together_share_a_write_within_the_limits(
    node: RunningNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Badges written in one group (node/inbox_group.py) count from the moment they join it:
    of eight arriving at once, the five the inbox has room for are kept."""
    monkeypatch.setattr(earner, "MAX_INBOX_BADGES", 5)
    badges = [sign_badge(ALICE if n % 2 else BOB, node.did) for n in range(8)]
    async with asyncio.timeout(30):
        answers = await asyncio.gather(
            *(earner.receive(node, badge) for badge in badges), return_exceptions=True
        )
    kept = [answer for answer in answers if isinstance(answer, tuple)]
    refused = [answer for answer in answers if isinstance(answer, earner.InboxFull)]
    assert (len(kept), len(refused)) == (5, 3)
    assert len(earner.inbox_items(node)) == 5
    assert _counts(node.store, ALICE) == _recounted(node.store, ALICE)


async def test_a_badge_delivered_twice_at_once_is_kept_once(node: RunningNode) -> None:
    badge = sign_badge(ALICE, node.did)
    async with asyncio.timeout(30):
        answers = await asyncio.gather(*(earner.receive(node, badge) for _ in range(3)))
    assert {state["state"] for _, state in answers} == {"inbox"}
    assert len(earner.inbox_items(node)) == 1
    assert _counts(node.store, ALICE) == inbox_counts.InboxRoom(
        1, badge_size(badge), badge_size(badge)
    )


async def test_badges_a_backpack_restore_puts_in_the_inbox_are_counted(
    node: RunningNode,
) -> None:
    """A restore writes many badges in one batch: the counts are rebuilt, not added to."""
    early = sign_badge(ALICE, node.did)
    async with asyncio.timeout(30):
        await earner.receive(node, early)  # the counts exist before the restore
    restored = [sign_badge(BOB, node.did) for _ in range(2)]
    document = {
        "type": backpack.BACKPACK_TYPE,
        "did": node.did,
        "badges": [
            {"record": _inbox_state(badge).to_json(), "credential": badge} for badge in restored
        ],
        "imports": [],
    }
    assert backpack.restore_backpack(node, document) == (2, 0)
    counted = _counts(node.store, BOB)
    assert counted.badges == 3 and counted.sender_bytes == sum(map(badge_size, restored))
    assert counted == _recounted(node.store, BOB)
