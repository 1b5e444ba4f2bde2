"""Webmentions sent and received, and a badge's mentions, are typed records (node/records.py,
issue 11 item 2) whose bytes are those node/webmention.py wrote before it had the types:
`json.dumps` of dicts built by merges, members in the same order, escaped."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from badgechain.node.records import Mention, WebmentionReceived, WebmentionSent

_TEXT = st.text(max_size=16)


def _old(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


@given(uid=_TEXT, target=_TEXT, queued=_TEXT, outcome=_TEXT, at=_TEXT)
def test_a_sent_webmention_is_written_as_before(
    uid: str, target: str, queued: str, outcome: str, at: str
) -> None:
    job = {"uid": uid, "target": target, "queued": queued}
    made = WebmentionSent(uid=uid, target=target, queued=queued)
    assert made.to_bytes() == _old(job)
    tried = WebmentionSent.from_bytes(_old(job)).with_members(outcome=outcome, at=at)
    assert tried.to_bytes() == _old(job | {"outcome": outcome, "at": at})


@given(
    source=_TEXT,
    target=_TEXT,
    received=_TEXT,
    checks=st.lists(st.one_of(st.none(), _TEXT), min_size=1, max_size=3),
    checked=_TEXT,
)
def test_a_received_webmention_is_written_as_before_through_every_check(
    source: str, target: str, received: str, checks: list[str | None], checked: str
) -> None:
    """Each check verifies it (error: null) or refuses it (error: its code and message)."""
    job: dict[str, Any] = {
        "id": "ab",
        "source": source,
        "target": target,
        "state": "queued",
        "received": received,
    }
    record = WebmentionReceived(
        id="ab", source=source, target=target, state="queued", received=received
    )
    assert record.to_bytes() == _old(job)
    stored = _old(job)
    for refusal in checks:
        if refusal is None:
            job |= {"state": "verified", "error": None}
            record = WebmentionReceived.from_bytes(stored).with_members(
                state="verified", error=None
            )
        else:
            error = {"code": "webmention_no_link", "message": refusal}
            job |= {"state": "refused", "error": error}
            record = WebmentionReceived.from_bytes(stored).with_members(
                state="refused", error=error
            )
        job["checked"] = checked
        stored = record.with_members(checked=checked).to_bytes()
        assert stored == _old(job)
    assert WebmentionReceived.from_bytes(stored).to_json() == job


@given(source=_TEXT, target=_TEXT, verified=_TEXT)
def test_a_mention_is_written_as_before(source: str, target: str, verified: str) -> None:
    mention = {"source": source, "target": target, "verified": verified}
    made = Mention(source=source, target=target, verified=verified)
    assert made.to_bytes() == _old(mention)
    assert Mention.from_bytes(_old(mention)).to_json() == mention
