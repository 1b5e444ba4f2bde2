"""A mail to send and a claim's kept address are typed records (node/records.py, issue 11
item 2) whose bytes are those node/mail.py and node/mail_claims.py wrote before the types;
a claim reads through node/claims.py alone."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from badgechain.node.claims import is_open
from badgechain.node.records import ClaimAddress, PendingMail

_TEXT = st.text(max_size=24)
_TIMES = st.lists(st.floats(min_value=0, max_value=2**40, allow_nan=False), max_size=4)


def _old(value: Any) -> bytes:
    return json.dumps(value).encode()


@given(to=_TEXT, subject=_TEXT, body=_TEXT)
def test_a_mail_to_send_is_written_as_before(to: str, subject: str, body: str) -> None:
    message = {"to": to, "subject": subject, "body": body}
    assert PendingMail(to=to, subject=subject, body=body).to_bytes() == _old(message)
    assert PendingMail.from_bytes(_old(message)).to_json() == message


@given(to=_TEXT, name=_TEXT, earlier=_TIMES, now=st.floats(min_value=0, max_value=2**40))
def test_a_claims_address_is_written_as_before_through_resends(
    to: str, name: str, earlier: list[float], now: float
) -> None:
    kept: dict[str, Any] = {"to": to, "name": name, "resent": []}
    assert ClaimAddress(to=to, name=name, resent=()).to_bytes() == _old(kept)
    kept["resent"] = earlier
    stored = ClaimAddress.from_bytes(_old(kept))
    assert list(stored.resent or ()) == earlier
    kept["resent"] = [*earlier, now]
    assert stored.with_members(resent=[*earlier, now]).to_bytes() == _old(kept)


def test_a_claim_is_open_until_its_code_is_spent() -> None:
    claim = {"salt": "00", "digest": "ab", "expires": 1.0, "failures": [], "earner": None}
    assert is_open(_old(claim))
    assert not is_open(_old(claim | {"earner": "ed01ab"}))
    assert not is_open(None)
    assert not is_open(b"[]") and not is_open(b"not json") and not is_open(_old({"x": 1}))
