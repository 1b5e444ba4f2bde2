"""A presentation challenge is a typed record (node/records.py `HeldChallenge`, issue 11
item 2) written byte for byte as node/challenges.py wrote it before the type."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from badgechain.node.records import HeldChallenge


@given(domain=st.text(max_size=24), expires=st.floats(min_value=0, max_value=2**40))
def test_a_challenge_is_written_as_before_and_when_used(domain: str, expires: float) -> None:
    held = {"domain": domain, "expires": expires, "used": False}
    made = HeldChallenge(domain=domain, expires=expires, used=False)
    assert made.to_bytes() == json.dumps(held).encode()
    used = HeldChallenge.from_bytes(json.dumps(held).encode()).with_members(used=True)
    assert used.to_bytes() == json.dumps(held | {"used": True}).encode()
