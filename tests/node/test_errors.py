"""node/errors.py: one table gives every workflow error its HTTP status."""

from __future__ import annotations

import pytest

from badgechain.chain.errors import BadgeChainError
from badgechain.node.collections import CollectionError
from badgechain.node.delivery import DeliveryError, DeliveryRefused
from badgechain.node.earner import BadgeNotFound, InboxFull, InboxRefused, UrlInvalid, WrongState
from badgechain.node.errors import StatusListUnknown
from badgechain.node.inbox_limits import InboxSenderFull, InboxStorageFull
from badgechain.node.issuer import IssuerError
from badgechain.node.personas import PersonaError
from badgechain.node.resolvers import FetchError, NotPublished
from badgechain.node.states import TRANSITIONS, BadgeState, StateChangeRefused, advance


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (IssuerError("x", code="class_not_found"), 404),
        (IssuerError("x", code="credential_invalid"), 400),  # a request the issuer refuses
        (InboxRefused("x", code="credential_invalid"), 422),  # a delivery the inbox refuses
        (IssuerError("x", code="image_too_large"), 413),
        (IssuerError("x", code="issuer_mismatch"), 422),
        (CollectionError("x", code="badge_not_held"), 422),
        (CollectionError("x", code="collection_id_invalid"), 400),
        (PersonaError("x", code="persona_not_found"), 404),
        (BadgeNotFound("x"), 404),
        (WrongState("x", code="not_accepted"), 409),
        (UrlInvalid("x"), 400),
        (InboxFull("x"), 503),
        (InboxStorageFull("x"), 507),
        (InboxSenderFull("x"), 429),
        (DeliveryError("x", code="inbox_unknown"), 502),
        (DeliveryRefused("x", code="no_inbox"), 502),
        (FetchError("x", code="location_invalid"), 502),
        (NotPublished("x", code="badge_hidden"), 404),
        (StatusListUnknown("x"), 404),
        (StatusListUnknown("x", code="status_list_id_invalid"), 400),
    ],
)
def test_each_workflow_error_has_its_status(error: BadgeChainError, status: int) -> None:
    assert error.http_status == status


# --- badge states ----------------------------------------------------------------------------


def test_every_state_has_its_transitions_and_final_states_have_none() -> None:
    assert set(TRANSITIONS) == set(BadgeState)
    assert TRANSITIONS[BadgeState.REJECTED] == TRANSITIONS[BadgeState.REVOKED] == frozenset()


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("inbox", BadgeState.ACCEPTED),
        ("inbox", BadgeState.REJECTED),
        ("accepted", BadgeState.HIDDEN),
        ("hidden", BadgeState.ACCEPTED),  # a move shows a hidden badge again
        ("unpublished", BadgeState.ACCEPTED),
        ("issued", BadgeState.REVOKED),
    ],
)
def test_possible_changes_are_made(current: str, target: BadgeState) -> None:
    assert advance(current, target) == target == target.value  # stored as the same string


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("revoked", BadgeState.ACCEPTED),
        ("rejected", BadgeState.ACCEPTED),
        ("issued", BadgeState.ACCEPTED),
        ("accepted", BadgeState.REJECTED),
        ("inbox", BadgeState.HIDDEN),
        ("bogus", BadgeState.ACCEPTED),
        (None, BadgeState.REVOKED),
    ],
)
def test_impossible_changes_are_refused(current: object, target: BadgeState) -> None:
    with pytest.raises(StateChangeRefused) as refused:
        advance(current, target)
    assert refused.value.code == "state_change_refused"
