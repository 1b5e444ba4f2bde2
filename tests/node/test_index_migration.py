"""Nodes started on homes from before the earner-owned index (node/index_migration.py): the
network holds an earner page its issuer signed; after a restart no node holds that item, and
the earner's node has signed its accepted badge's item again, so readers list it."""

from __future__ import annotations

import time

import pytest

from badgechain.bns.index import EarnerItem, EarnerPage, earner_item_signed_bytes
from badgechain.bns.record import entry_from_badge
from badgechain.bns.values import address_of_key
from badgechain.chain.keys import PublicKey, verify_signature
from badgechain.chain.uid import uid_text
from badgechain.node import index_migration
from badgechain.node.app import RunningNode
from badgechain.node.badgestore import credential_uid
from badgechain.storage import Kind
from tests.node.conftest import NodeNetwork, eventually
from tests.node.test_earner_index import _badge, _call, _listed


def _older_home(node: RunningNode, address: bytes, old_page: bytes, *, wrote_it: bool) -> None:
    """Make `node`'s home look as one written before the migration: it holds the issuer's
    page (and, as its writer, republishes it), and has never migrated."""
    node.store.put(Kind.BNS_RECORD, address, old_page)
    if wrote_it:
        node.store.put(Kind.PUBLISHED, address, old_page)
    else:
        node.store.delete(Kind.PUBLISHED, address)
    node.store.delete(Kind.JOURNAL, index_migration.MIGRATED)


@pytest.mark.slow
async def test_an_older_homes_issuer_written_index_is_dropped_and_signed_again_by_the_earner(
    node_network: NodeNetwork,
) -> None:
    issuer, earner, reader = await node_network.start(3)
    badge = _badge(issuer, earner)
    entry = entry_from_badge(badge, issuer.key, earner.key.public_key, int(time.time()))
    await issuer.names.publish(issuer.key, entry)
    status, _ = await _call(node_network, earner, "POST", "/inbox", badge)
    assert status == 202
    uid = uid_text(credential_uid(badge))
    status, answer = await _call(node_network, earner, "POST", "/admin/accept", {"uid": uid})
    assert status == 200, answer

    # The old layout: page 0 of the earner's index holds an item its issuer signed.
    earner_key = earner.key.public_key
    signed = earner_item_signed_bytes(earner_key, 0, entry.uid)
    old = EarnerPage(earner_key, 0, (EarnerItem(entry, issuer.key.sign(signed)),))
    address = address_of_key(old.key)
    for node in (issuer, earner, reader):
        _older_home(node, address, old.to_wire_bytes(), wrote_it=node is issuer)

    # A reader started on the new code shows none of it, whatever the others still hold.
    reader = await node_network.restart(reader)
    assert await _listed(node_network, reader, earner) == []

    restarted = [reader, *[await node_network.restart(node) for node in (issuer, earner)]]
    reader, issuer, earner = restarted
    for node in restarted:  # each rewrote what it holds on start
        held = node.store.get(Kind.BNS_RECORD, address)
        assert held is None or _earner_signed(held, earner_key)
        assert node.store.get(Kind.PUBLISHED, address) in (None, held)
        assert node.store.get(Kind.JOURNAL, index_migration.MIGRATED) is not None

    async def listed_again() -> bool:
        return await _listed(node_network, reader, earner) == [uid]

    await eventually(listed_again, timeout=30)
    for node in restarted:
        held = node.store.get(Kind.BNS_RECORD, address)
        assert held is None or _earner_signed(held, earner_key)
    assert index_migration.migrate_earner_index(earner) == 0  # once per home


def _earner_signed(value: bytes, earner_key: PublicKey) -> bool:
    page = EarnerPage.from_wire_bytes(value)
    return all(
        verify_signature(
            earner_key,
            earner_item_signed_bytes(earner_key, page.page, item.uid, *item.version),
            item.signature,
        )
        for item in page.items
    )
