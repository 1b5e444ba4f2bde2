"""Typed records (node/records.py) read and rewrite, byte for byte, what the node wrote as
plain JSON before them: the writers of old are reproduced here as they were."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from badgechain.chain.uid import Uid
from badgechain.node import badgestore
from badgechain.node.issuer import issued_state
from badgechain.node.records import BadgeRecord, BatchHeader, ClassRecord, RevocationMark
from badgechain.storage import Kind, MemoryStore

NOW = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
UID = Uid(bytes(range(64)))


def _old_state_bytes(state: dict[str, Any]) -> bytes:
    """How badgestore.set_state wrote a state before the records."""
    return json.dumps(state).encode()


def _old_journal_bytes(value: dict[str, Any]) -> bytes:
    """How classes, batches and revocation wrote their journal records."""
    return json.dumps(value, ensure_ascii=False).encode()


OLD_STATES = [
    issued_state(NOW, class_id="k1", batch_id="b1"),
    {
        "role": "received",
        "state": "inbox",
        "at": "2026-05-04T03:02:01+00:00",
        "bytes": 812,
        "sender": "did:key:z6Mk",
    },
    {
        "role": "persona",
        "state": "accepted",
        "name": "Zoë Ø",
        "at": "x",
        "created": 17,
        "urls": ["https://a.example/b.json"],
    },
    {"role": "issued", "state": "revoked", "at": "x", "revoked": "2026-05-04T03:02:01+00:00"},
    {"state": "rejected"},  # tests and older nodes wrote partial records
    {
        "role": "received",
        "state": "hidden",
        "urls": [],
        "future_member": {"a": [1, None]},
        "bytes": "not a count",
    },
]


def test_state_records_written_the_old_way_round_trip_exactly() -> None:
    for state in OLD_STATES:
        raw = _old_state_bytes(state)
        record = BadgeRecord.from_bytes(raw)
        assert record.to_bytes() == raw
        assert record.to_json() == state
        assert record.state == state.get("state")
    persona = BadgeRecord.from_bytes(_old_state_bytes(OLD_STATES[2]))
    assert (persona.name, persona.created, persona.urls) == (
        "Zoë Ø",
        17,
        ("https://a.example/b.json",),
    )
    odd = BadgeRecord.from_bytes(_old_state_bytes(OLD_STATES[5]))
    assert odd.bytes is None and odd.get("bytes") == "not a count"  # kept as it was, untyped


def test_the_store_reads_typed_what_it_wrote_as_dicts_and_back() -> None:
    store = MemoryStore()
    for index, state in enumerate(OLD_STATES):
        uid = Uid(bytes([index]) * 64)
        badgestore.set_state(store, uid, state)
        raw = store.get(Kind.INDEX, badgestore.STATE_PREFIX + uid)
        record = badgestore.load_record(store, uid)
        assert record is not None and record.to_bytes() == raw
        badgestore.save_record(store, uid, record)
        assert store.get(Kind.INDEX, badgestore.STATE_PREFIX + uid) == raw
        assert badgestore.load_state(store, uid) == state
    typed = [(uid, record.to_json()) for uid, record in badgestore.records(store)]
    assert typed == badgestore.states(store)


def test_a_change_keeps_the_order_a_merge_of_dicts_gave() -> None:
    state = OLD_STATES[1]
    record = BadgeRecord.from_bytes(_old_state_bytes(state))
    changed = record.with_members(state="accepted", at="y", urls=("https://u.example/",))
    merged = state | {"state": "accepted", "at": "y", "urls": ["https://u.example/"]}
    assert changed.to_bytes() == _old_state_bytes(merged)
    fresh = BadgeRecord(role="issued", state="issued", at="x", class_id="k")
    assert fresh.to_bytes() == _old_state_bytes(issued_state(NOW, class_id="k") | {"at": "x"})


def test_journal_records_written_the_old_way_round_trip_exactly() -> None:
    achievement = {"id": "urn:uuid:a", "name": "Café ☕", "criteria": {"narrative": "x"}}
    old_class = {"id": "AbC-12_xyz", "achievement": achievement, "created": "2026-05-04"}
    old_batch = {"id": "b-1", "class_id": "AbC-12_xyz", "total": 3, "created": "t", "state": "done"}
    old_mark = {"reason": "issued in error — sorry", "at": 1_777_777_777}
    for kind, value in (
        (ClassRecord, old_class),
        (BatchHeader, old_batch),
        (RevocationMark, old_mark),
    ):
        raw = _old_journal_bytes(value)
        assert kind.from_bytes(raw).to_bytes() == raw
    store = MemoryStore()
    store.put(Kind.JOURNAL, b"issuer/class/AbC-12_xyz", _old_journal_bytes(old_class))
    found = badgestore.journal_record(store, b"issuer/class/", "AbC-12_xyz", ClassRecord)
    assert found is not None and found.achievement == achievement and found.created == "2026-05-04"
    assert badgestore.journal_record(store, b"issuer/class/", "../x", ClassRecord) is None
    mark = RevocationMark(reason="issued in error — sorry", at=1_777_777_777)
    assert mark.to_bytes() == _old_journal_bytes(old_mark)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=5,
)
_names = st.sampled_from(["role", "state", "at", "urls", "bytes", "created", "name", "x", "ü"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_names, _json, max_size=6), st.booleans())
def test_any_stored_state_round_trips(state: dict[str, Any], escaped: bool) -> None:
    raw = json.dumps(state, ensure_ascii=escaped).encode()
    assert BadgeRecord.from_bytes(raw).to_bytes() == raw
