"""Errors the node's workflows raise, and the one table that gives each its HTTP status.

A workflow raises a `NodeError` with a stable `code`; it never builds an HTTP answer. The
gateway's middleware (node/problems.py) turns any BadgeChainError into problem+json with
`http_status`. For a NodeError that comes from `STATUS_BY_CODE` below: the status of its
own code if listed, else that of its class's code (or a base class's), else 400. Errors of
the layers below (chain/, bns/, storage/) carry their own status.

NodeError
 ├── IssuerError      an issuing or revocation request the node refuses (issuer, classes,
 │                    batches, revocation, vcapi)
 ├── PersonaError     a persona or endorsement request (node/personas.py)
 ├── CollectionError  a collection request (node/collections.py)
 ├── EarnerError      an action on a received badge (node/earner.py)
 ├── InboxLimit       the inbox is full, for everyone or for one sender (node/inbox_limits.py)
 ├── DeliveryError    a delivery failed; DeliveryRefused: for good (node/inbox_client.py)
 ├── FetchError, NotPublished  fetching a badge from its location (node/fetchers.py)
 └── StatusListUnknown  a status list id that is malformed or unknown (node/status.py)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from badgechain.chain.errors import BadgeChainError

__all__ = ["STATUS_BY_CODE", "IssuerError", "NodeError", "StatusListUnknown"]

# The codes (a raised one, or a class's own) whose status is not a plain 400 (RFC 9110).
STATUS_BY_CODE: Final[Mapping[str, int]] = {
    # 400 where the class's code says otherwise
    "url_invalid": 400,
    "status_list_id_invalid": 400,
    "earner_id_invalid": 400,
    "claim_code_invalid": 400,
    "claim_proof_missing": 400,  # node/claim_proof.py: the claimant proves the key
    # 404: what the request names is not here
    "badge_not_found": 404,
    "batch_not_found": 404,
    "class_not_found": 404,
    "collection_not_found": 404,
    "persona_not_found": 404,
    "status_list_not_found": 404,
    "location_missing": 404,
    "earner_unknown": 404,
    "course_not_found": 404,
    "participant_not_found": 404,
    "submission_not_found": 404,
    "harvest_not_found": 404,
    "webmention_not_found": 404,
    "claim_not_found": 404,
    "log_entry_not_found": 404,
    # 409: the badge is not in the state the action needs
    "earner_error": 409,
    "not_in_inbox": 409,
    "not_accepted": 409,
    "already_held": 409,  # a backpack import of a badge held already
    "backpack_key_mismatch": 409,
    "hashtag_taken": 409,
    "participant_exists": 409,
    "completion_exists": 409,
    "submission_closed": 409,
    "claim_code_used": 409,
    "claim_not_handed_over": 409,
    "claim_already_claimed": 409,
    "claim_address_unknown": 409,
    # 413: over a size limit
    "batch_too_large": 413,
    "image_too_large": 413,
    "badge_too_large": 413,  # a badge given to import
    # 422: understood, but not acceptable
    "badge_invalid": 422,
    "badge_not_held": 422,
    "badge_revoked": 422,  # a collection refuses a badge its issuer revoked
    "issuer_mismatch": 422,
    "credential_status_present": 422,
    "subject_unknown": 422,
    "credential_refused": 422,
    "challenge_invalid": 422,  # a presentation challenge this verifier does not accept
    "presentation_not_holder": 422,
    "earner_not_persona": 422,
    "earner_did_document_invalid": 422,
    "backpack_invalid": 422,  # a backpack of the right shape whose content will not do
    "backpack_too_large": 422,
    "claim_failed": 422,  # node/claims.py ClaimError, unless its code is listed
    "claim_proof_invalid": 422,  # node/claim_proof.py ClaimProofError, likewise
    "log_entry_invalid": 422,  # node/nodelog.py NodeLogError, unless its code is listed
    # 429 / 507: the inbox is full for one sender, or for everyone; other rate limits
    "inbox_sender_full": 429,
    "rate_limited": 429,  # node/course_limits.py RateLimited, whatever its own code
    "webmention_rate_limited": 429,
    "registration_rate_limited": 429,
    "claim_rate_limited": 429,
    "claim_resend_rate_limited": 429,
    "inbox_storage_full": 507,
    # 500: the node's own storage is at fault
    "log_storage_damaged": 500,
    # 502: another server failed us
    "delivery_failed": 502,
    "delivery_refused": 502,
    "fetch_failed": 502,
    "fetch_too_large": 502,
    "fetch_type_invalid": 502,
    "earner_did_web_unreachable": 502,
    # 503: try again later
    "inbox_full": 503,
    "smtp_failed": 503,  # node/mail.py MailError: the mail server failed us, try again
    "challenges_full": 503,
    "webmention_busy": 503,
}


class NodeError(BadgeChainError):
    """A workflow refused a request or could not do it; `code` says why."""

    code = "request_invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.http_status = _status(self)


def _status(error: NodeError) -> int:
    """The status of the error's code, else of the nearest class code in the table."""
    class_codes = [vars(cls)["code"] for cls in type(error).__mro__ if "code" in vars(cls)]
    for code in (error.code, *class_codes):
        if code in STATUS_BY_CODE:
            return STATUS_BY_CODE[code]
    return 400


class IssuerError(NodeError):
    """An issuer request the node refuses; `code` says why."""

    code = "issue_invalid"


class StatusListUnknown(NodeError):
    """A status list id that is malformed, or names no list of this node."""

    code = "status_list_not_found"
