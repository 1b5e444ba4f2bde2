"""The signed node log, pure: entries, hashes, and the first bad entry a walk names."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.chain.keys import KeyPair
from badgechain.chain.logentry import LOG_OPENING_INVALID, commitment, open_entry, redact
from badgechain.chain.nodelog import (
    GENESIS_PREV,
    LOG_CHECKPOINT_MISMATCH,
    LOG_ENTRY_INVALID,
    LOG_ENTRY_MISSING,
    LOG_HEAD_INVALID,
    LOG_LINK_BROKEN,
    LOG_REORDERED,
    LOG_SIGNATURE_INVALID,
    LOG_SIGNER_MISMATCH,
    LOG_TRUNCATED,
    MAX_DETAILS_BYTES,
    PRIVATE_ACTIONS,
    SEALED,
    Checkpoint,
    LogError,
    LogVerdict,
    entry_hash,
    make_entry,
    make_head,
    parse_checkpoint,
    verify_log,
)

KEY = KeyPair.from_seed(bytes(range(32)))
OTHER = KeyPair.from_seed(bytes(range(1, 33)))
START = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
UID = "z" + "3" * 86


def build_log(count: int, key: KeyPair = KEY) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for seq in range(count):
        prev = entries[-1] if entries else None
        action = ("issue", "revoke", "accept", "move", "status-list")[seq % 5]
        details = {"n": seq, "why": 'test <&> "quoted"'}
        entries.append(make_entry(key, prev, action, UID, details, START + timedelta(seconds=seq)))
    return entries


def check(entries: list[Any], head: Any, **more: Any) -> LogVerdict:
    return verify_log(entries, signer_did=KEY.did, head=head, **more)


@pytest.fixture
def log50() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    entries = build_log(50)
    return entries, make_head(KEY, entries[-1])


def assert_bad(verdict: LogVerdict, seq: int | None, code: str) -> None:
    assert not verdict.ok
    assert (verdict.bad_seq, verdict.code) == (seq, code), verdict


def test_a_good_log_verifies(log50: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    entries, head = log50
    verdict = check(entries, head)
    assert verdict.ok and verdict.count == 50
    assert (verdict.head_seq, verdict.head_hash) == (49, entry_hash(entries[-1]))
    assert entries[0]["prev"] == GENESIS_PREV
    assert all(b["prev"] == entry_hash(a) for a, b in itertools.pairwise(entries))
    assert verdict.to_json()["head"] == {"seq": 49, "hash": entry_hash(entries[-1])}


def test_an_empty_log_without_head_verifies() -> None:
    assert check([], None).ok


def test_an_edited_entry_breaks_its_signature(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    entries[17]["details"]["n"] = 1000
    assert_bad(check(entries, head), 17, LOG_SIGNATURE_INVALID)


def test_an_edited_seq_breaks_the_signature_too(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    entries[3]["action"] = "revoke" if entries[3]["action"] != "revoke" else "issue"
    assert_bad(check(entries, head), 3, LOG_SIGNATURE_INVALID)


def test_an_entry_removed_from_the_middle_is_missing(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    del entries[20]
    assert_bad(check(entries, head), 20, LOG_ENTRY_MISSING)


@pytest.mark.parametrize(("first", "second"), [(10, 11), (10, 30), (0, 49)])
def test_swapped_entries_are_reordered(
    log50: tuple[list[dict[str, Any]], dict[str, Any]], first: int, second: int
) -> None:
    entries, head = log50
    entries[first], entries[second] = entries[second], entries[first]
    assert_bad(check(entries, head), first, LOG_REORDERED)


def test_a_repeated_entry_is_reordered(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    entries.insert(8, copy.deepcopy(entries[7]))
    assert_bad(check(entries, head), 8, LOG_REORDERED)


def test_an_entry_resigned_by_another_key_is_a_signer_mismatch(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    forged = make_entry(OTHER, entries[24], "revoke", UID, {}, START)
    entries[25] = forged
    assert_bad(check(entries, head), 25, LOG_SIGNER_MISMATCH)


def test_another_key_under_the_nodes_name_is_a_bad_signature(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    forged = make_entry(OTHER, entries[24], "revoke", UID, {}, START)
    forged["signer"] = KEY.did
    entries[25] = forged
    assert_bad(check(entries, head), 25, LOG_SIGNATURE_INVALID)


def test_an_entry_edited_and_resigned_by_the_real_key_breaks_the_next_link(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    entries[30] = make_entry(KEY, entries[29], "hide", UID, {"forged": True}, START)
    assert_bad(check(entries, head), 31, LOG_LINK_BROKEN)


def test_the_last_entry_rewritten_disagrees_with_the_head(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    entries[49] = make_entry(KEY, entries[48], "hide", UID, {"forged": True}, START)
    assert_bad(check(entries, head), 49, LOG_LINK_BROKEN)


def test_a_cut_tail_under_a_kept_head_is_truncated(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    assert_bad(check(entries[:42], head), 42, LOG_TRUNCATED)
    assert_bad(check([], head), 0, LOG_TRUNCATED)


def test_a_head_that_is_forged_or_missing_is_refused(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    assert check(entries, None).code == LOG_HEAD_INVALID
    assert check(entries, make_head(OTHER, entries[-1])).code == LOG_HEAD_INVALID
    bumped = dict(head, seq=60)
    assert check(entries, bumped).code == LOG_HEAD_INVALID  # the signature no longer holds
    behind = make_head(KEY, entries[40])
    assert_bad(check(entries, behind), 41, LOG_HEAD_INVALID)
    assert check(entries, {"seq": 1}).code == LOG_HEAD_INVALID


def test_a_checkpoint_catches_a_rewritten_history(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    seen = Checkpoint(20, entry_hash(entries[20]))
    assert check(entries, head, checkpoint=seen).ok
    # A whole new history from entry 10 on, consistently re-signed by the real key:
    rewritten = entries[:10]
    for seq in range(10, 50):
        rewritten.append(make_entry(KEY, rewritten[-1], "issue", UID, {"x": seq}, START))
    new_head = make_head(KEY, rewritten[-1])
    assert check(rewritten, new_head).ok  # nothing but a checkpoint can tell
    assert_bad(check(rewritten, new_head, checkpoint=seen), 20, LOG_CHECKPOINT_MISMATCH)
    short_head = make_head(KEY, entries[14])
    assert_bad(check(entries[:15], short_head, checkpoint=seen), 15, LOG_TRUNCATED)


def test_malformed_entries_are_named(
    log50: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    entries, head = log50
    for broken in (None, "text", {**entries[5], "extra": 1}, {**entries[5], "seq": "5"}):
        edited: list[Any] = list(entries)
        edited[5] = broken
        assert_bad(check(edited, head), 5, LOG_ENTRY_INVALID)


def test_make_entry_bounds_its_inputs() -> None:
    with pytest.raises(LogError):
        make_entry(KEY, None, "delete-everything", UID, {}, START)
    with pytest.raises(LogError):
        make_entry(KEY, None, "issue", "", {}, START)
    with pytest.raises(LogError):
        make_entry(KEY, None, "issue", "x" * 300, {}, START)
    with pytest.raises(LogError):
        make_entry(KEY, None, "issue", UID, {"blob": "x" * MAX_DETAILS_BYTES}, START)
    with pytest.raises(LogError):
        make_entry(KEY, None, "issue", UID, {"ratio": 0.5}, START)
    with pytest.raises(LogError):
        make_entry(KEY, None, "issue", UID, {}, datetime(2025, 1, 1))


def test_times_are_rfc3339_utc() -> None:
    local = START.astimezone(timezone(timedelta(hours=2)))
    entry = make_entry(KEY, None, "issue", UID, {}, local)
    assert entry["at"] == "2025-01-02T03:04:05Z"


def test_checkpoints_parse_strictly() -> None:
    digest = "ab" * 32
    assert parse_checkpoint(f"12:{digest}") == Checkpoint(12, digest)
    for bad in ("12", f"-1:{digest}", f"x:{digest}", "3:abc", f"3:{digest.upper()}", f"²:{digest}"):
        with pytest.raises(LogError):
            parse_checkpoint(bad)


@settings(max_examples=30, deadline=None)
@given(position=st.integers(0, 9), flip=st.integers(0, 63))
def test_any_flipped_signature_character_is_caught(position: int, flip: int) -> None:
    entries = build_log(10)
    head = make_head(KEY, entries[-1])
    signature = entries[position]["signature"]
    index = 1 + flip % (len(signature) - 1)
    replacement = "2" if signature[index] != "2" else "3"
    entries[position]["signature"] = signature[:index] + replacement + signature[index + 1 :]
    verdict = check(entries, head)
    assert not verdict.ok and verdict.bad_seq == position
    assert verdict.code in (LOG_SIGNATURE_INVALID, LOG_ENTRY_INVALID)


# -- sealed (private) entries and redacted stubs ------------------------------------------

SALT = bytes(range(100, 132))


def sealed_log() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """issue, a sealed collection, issue, a legacy (unsealed) hide: the log, its head and
    the sealed entry's opening."""
    details = {"name": "Private things", "badges": 2}
    opening = {
        "seq": 1,
        "action": "collection",
        "subject": "k" * 22,
        "details": details,
        "salt": SALT.hex(),
    }
    sealed_subject = commitment("collection", "k" * 22, details, SALT)
    entries: list[dict[str, Any]] = []
    for action, subject in (
        ("issue", UID),
        (SEALED, sealed_subject),
        ("issue", UID),
        ("hide", UID),
    ):
        previous = entries[-1] if entries else None
        entries.append(make_entry(KEY, previous, action, subject, None, START))
    return entries, make_head(KEY, entries[-1]), opening


def test_a_sealed_entry_opens_only_with_its_salt_and_content() -> None:
    entries, head, opening = sealed_log()
    assert check(entries, head).ok
    content = open_entry(entries[1], opening)
    assert content == {
        "action": "collection",
        "subject": "k" * 22,
        "details": {"name": "Private things", "badges": 2},
    }
    for change in (
        {"salt": "00" * 32},
        {"subject": "k" * 21 + "j"},
        {"details": {"name": "Private things", "badges": 3}},
        {"action": "persona"},
        {"seq": 2},
    ):
        with pytest.raises(LogError) as raised:
            open_entry(entries[1], {**opening, **change})
        assert raised.value.code == LOG_OPENING_INVALID
    with pytest.raises(LogError) as raised:  # a public entry is nothing to open
        open_entry(entries[0], {**opening, "seq": 0})
    assert raised.value.code == LOG_OPENING_INVALID
    with pytest.raises(LogError):  # an issue is never sealed
        open_entry(entries[1], {**opening, "action": "issue"})
    with pytest.raises(LogError) as raised:  # a damaged stored entry: an error, no crash
        open_entry({"action": SEALED, "seq": 1}, opening)
    assert raised.value.code == LOG_OPENING_INVALID


def test_a_sealed_entry_must_carry_only_a_commitment() -> None:
    with pytest.raises(LogError):
        make_entry(KEY, None, SEALED, "the collection's link", None, START)
    with pytest.raises(LogError):
        make_entry(KEY, None, SEALED, "a" * 64, {"name": "leak"}, START)
    assert {"collection", "persona", "hide", "reject"} == PRIVATE_ACTIONS


def test_a_deleted_reordered_or_rewritten_sealed_entry_is_caught() -> None:
    """Sealing hides what a private entry says, not that it is there: `log verify` still
    names a sealed entry taken out, moved, or given another commitment."""
    entries, head, _ = sealed_log()
    assert entries[1]["action"] == SEALED
    assert_bad(check(entries[:1] + entries[2:], head), 1, LOG_ENTRY_MISSING)
    assert_bad(check([entries[0], entries[2], entries[1], entries[3]], head), 1, LOG_REORDERED)
    rewritten = copy.deepcopy(entries)
    rewritten[1]["subject"] = commitment("collection", "j" * 22, {}, SALT)
    assert_bad(check(rewritten, head), 1, LOG_SIGNATURE_INVALID)


def public(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The log as served: unsealed private entries (written before sealing) redacted."""
    return [redact(e) if e["action"] in PRIVATE_ACTIONS else e for e in entries]


def test_a_log_with_redacted_stubs_still_verifies_and_catches_tampering() -> None:
    entries, head, _ = sealed_log()
    served = public(entries)
    assert served[3] == {"seq": 3, "redacted": entry_hash(entries[3])}
    verdict = check(served, head)
    assert verdict.ok and verdict.head_hash == entry_hash(entries[3])
    legacy = copy.deepcopy(entries)  # a middle private entry before sealing existed
    legacy[1] = make_entry(KEY, legacy[0], "collection", "k" * 22, None, START)
    legacy[2] = make_entry(KEY, legacy[1], "issue", UID, None, START)
    legacy[3] = make_entry(KEY, legacy[2], "hide", UID, None, START)
    legacy_head = make_head(KEY, legacy[3])
    assert check(public(legacy), legacy_head).ok
    stubbed = public(legacy)
    assert_bad(check(stubbed[:1] + stubbed[2:], legacy_head), 1, LOG_ENTRY_MISSING)
    assert_bad(
        check([stubbed[0], stubbed[2], stubbed[1], stubbed[3]], legacy_head), 1, LOG_REORDERED
    )
    wrong = {"seq": 1, "redacted": "0" * 64}  # a stub naming another hash
    assert_bad(check([stubbed[0], wrong, *stubbed[2:]], legacy_head), 2, LOG_LINK_BROKEN)
    assert_bad(check(stubbed[:3], legacy_head), 3, LOG_TRUNCATED)
    last_wrong = [*stubbed[:3], {"seq": 3, "redacted": "1" * 64}]
    assert_bad(check(last_wrong, legacy_head), 3, LOG_LINK_BROKEN)
    assert_bad(check([stubbed[0], {"seq": 1, "redacted": "xyz"}], None), 1, LOG_ENTRY_INVALID)
    mark = Checkpoint(1, entry_hash(legacy[1]))
    assert check(stubbed, legacy_head, checkpoint=mark).ok
    assert_bad(
        check(stubbed, legacy_head, checkpoint=Checkpoint(1, "2" * 64)), 1, LOG_CHECKPOINT_MISMATCH
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {"seq": _JSON, "action": _JSON, "subject": _JSON, "details": _JSON, "salt": _JSON}
    )
    | _JSON,
    st.fixed_dictionaries({"seq": _JSON, "redacted": _JSON}) | _JSON,
)
def test_hostile_openings_and_stubs_are_refused_with_a_code(opening: Any, stub: Any) -> None:
    """Whatever a damaged database or a crawled page holds: a LogError, never a crash."""
    entries, head, _ = sealed_log()
    with pytest.raises(LogError) as raised:  # no random opening matches the commitment
        open_entry(entries[1], opening)
    assert raised.value.code == LOG_OPENING_INVALID
    verdict = check([entries[0], stub, *entries[2:]], head)
    assert not verdict.ok and verdict.bad_seq in (1, 2), verdict
