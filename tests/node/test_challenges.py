"""A verifier's presentation challenges (node/challenges.py): single use, expiring, bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from badgechain.node import challenges
from badgechain.node.challenges import (
    ChallengeError,
    check_challenge,
    consume_challenge,
    issue_challenge,
)
from badgechain.storage.memory import MemoryStore

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _code(call: object, *args: object) -> str:
    with pytest.raises(ChallengeError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.code


def test_a_challenge_is_used_once() -> None:
    store = MemoryStore()
    issued = issue_challenge(store, "verifier.example", NOW)
    assert issued.expires == NOW + timedelta(seconds=challenges.CHALLENGE_TTL_S)
    challenge = issued.binding.challenge
    assert len(challenge) >= 32
    assert check_challenge(store, challenge, None, NOW).domain == "verifier.example"
    consume_challenge(store, challenge, "verifier.example", NOW)
    assert _code(consume_challenge, store, challenge, None, NOW) == "challenge_replayed"


def test_unknown_expired_and_other_domain_challenges_are_refused() -> None:
    store = MemoryStore()
    challenge = issue_challenge(store, "verifier.example", NOW).binding.challenge
    assert _code(check_challenge, store, "never", None, NOW) == "challenge_unknown"
    assert _code(check_challenge, store, "", None, NOW) == "challenge_unknown"
    assert _code(check_challenge, store, "x" * 300, None, NOW) == "challenge_unknown"
    assert _code(check_challenge, store, challenge, "evil.example", NOW) == "domain_mismatch"
    later = NOW + timedelta(seconds=challenges.CHALLENGE_TTL_S)
    assert _code(consume_challenge, store, challenge, None, later) == "challenge_expired"


def test_expired_challenges_are_deleted_and_open_ones_bounded() -> None:
    store = MemoryStore()
    old = [issue_challenge(store, "d", NOW, max_open=3).binding.challenge for _ in range(3)]
    with pytest.raises(ChallengeError) as caught:
        issue_challenge(store, "d", NOW, max_open=3)
    assert caught.value.code == "challenges_full"
    later = NOW + timedelta(seconds=challenges.CHALLENGE_TTL_S + 1)
    issue_challenge(store, "d", later, max_open=3)  # the expired three are gone
    assert _code(check_challenge, store, old[0], None, later) == "challenge_unknown"
    assert ChallengeError("x", code="challenges_full").http_status == 503
    assert ChallengeError("x", code="challenge_replayed").http_status == 422
