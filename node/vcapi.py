"""POST /credentials/issue (the W3C VC API): sign a caller's credential as this node.

The request's credential is checked as this node's own verifier would check it, given
this node as issuer, and handed to the issuing pipeline (node/pipeline.py).
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime
from typing import Any

from badgechain.chain.credential import CredentialView
from badgechain.chain.keys import PublicKey, public_key_from_did_key
from badgechain.chain.proof import JCS, RDFC, format_created
from badgechain.chain.structure import is_open_badge

from . import pipeline
from .didweb import issuer_did
from .errors import IssuerError
from .issuer import issued_state, persona_earner_key
from .pipeline import Issuance, IssueResult
from .services import Services

log = logging.getLogger(__name__)

STATUS_CONTEXT = "https://www.w3.org/ns/credentials/status/v1"
VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
VC1_CONTEXT = "https://www.w3.org/2018/credentials/v1"
# VC 1.1 does not define the Data Integrity proof terms: without this context, safe mode
# refuses to sign (vc-data-integrity, "Add Proof", asks for the context too).
DATA_INTEGRITY_CONTEXT = "https://w3id.org/security/data-integrity/v2"


def prepare_credential(credential: object, issuer_did: str, now: datetime) -> dict[str, Any]:
    """A VC API credential ready to sign: VC 2.0 or 1.1, unsigned, issued by `issuer_did`."""
    if not isinstance(credential, dict):
        raise IssuerError("credential must be a JSON object", code="credential_invalid")
    if "proof" in credential:
        raise IssuerError("the credential already carries a proof", code="proof_present")
    context = credential.get("@context")
    contexts = context if isinstance(context, list) else [context]
    if not contexts or contexts[0] not in (VC2_CONTEXT, VC1_CONTEXT):
        raise IssuerError(
            f"@context must start with {VC2_CONTEXT} or {VC1_CONTEXT}", code="credential_invalid"
        )
    types = credential.get("type")
    if "VerifiableCredential" not in (types if isinstance(types, list) else [types]):
        raise IssuerError("type must include VerifiableCredential", code="credential_invalid")
    if not isinstance(credential.get("credentialSubject"), dict | list):
        raise IssuerError("the credential needs a credentialSubject", code="credential_invalid")
    prepared = copy.deepcopy(credential)
    prepared["issuer"] = _own_issuer(credential.get("issuer"), issuer_did)
    if contexts[0] == VC1_CONTEXT:
        if DATA_INTEGRITY_CONTEXT not in contexts:
            prepared["@context"] = [*contexts, DATA_INTEGRITY_CONTEXT]
        prepared.setdefault("issuanceDate", format_created(now))
    return prepared


def _own_issuer(issuer: object, issuer_did: str) -> object:
    if issuer is None:
        return issuer_did
    if isinstance(issuer, dict) and issuer.get("id", issuer_did) == issuer_did:
        return issuer | {"id": issuer_did}
    if issuer == issuer_did:
        return issuer
    raise IssuerError(
        f"this node issues as {issuer_did}, not as {issuer!r:.100}",
        code="issuer_mismatch",
    )


def named_issuer(credential: dict[str, Any], name: str) -> dict[str, Any]:
    """An Open Badge with the node's [issuer] name in its issuer Profile, unless the caller
    named the issuer. Other credentials stay as they are: their contexts may lack the terms."""
    if not name or not is_open_badge(credential):
        return credential
    issuer = credential["issuer"]
    profile = issuer if isinstance(issuer, dict) else {"id": issuer, "type": ["Profile"]}
    return credential | {"issuer": {"name": name} | profile}


async def _subject_key(node: Services, credential: dict[str, Any]) -> PublicKey | None:
    """The earner key for the BNS entry, for a single subject: its did:key, or the earner
    behind the persona it names."""
    subject = CredentialView(credential).sole_subject
    subject_id = None if subject is None else subject.get("id")
    if isinstance(subject_id, str) and subject_id.startswith("did:key:"):
        return public_key_from_did_key(subject_id)
    if isinstance(subject_id, str):
        return await persona_earner_key(node, subject_id)
    return None


async def issue_credential(
    node: Services, credential: object, *, with_status: bool = False, cryptosuite: str = RDFC
) -> IssueResult:
    """POST /credentials/issue: sign a caller's credential as this node, store and publish.

    A status entry only when the request asks for one (the VC API's credentialStatus
    option); eddsa-rdfc-2022 unless eddsa-jcs-2022 is asked for."""
    now = node.clock()
    prepared = prepare_credential(credential, issuer_did(node), now)  # did:web if it has one
    prepared = named_issuer(prepared, node.config.issuer_name)
    if "credentialStatus" in prepared:
        raise IssuerError(
            "the node gives each credential its own credentialStatus",
            code="credential_status_present",
        )
    _check_issuable(prepared, now)
    earner_key = await _subject_key(node, prepared)
    if with_status:
        context = prepared["@context"]
        contexts = context if isinstance(context, list) else [context]
        if contexts[0] == VC1_CONTEXT and STATUS_CONTEXT not in contexts:
            prepared["@context"] = [*contexts, STATUS_CONTEXT]  # VC 1.1 lacks the entry's terms
    issuance = Issuance(
        build=lambda entry: prepared if entry is None else prepared | {"credentialStatus": entry},
        state=issued_state(now, via="vc-api"),
        earner_key=earner_key,
        with_status=with_status,
        suite=JCS if cryptosuite == JCS else RDFC,
    )
    return await pipeline.issue(node, issuance)


def _check_issuable(credential: dict[str, Any], now: datetime) -> None:
    """Refuse (400) what this node's own verifier would refuse."""
    if is_open_badge(credential) and not isinstance(credential.get("id"), str):
        raise IssuerError("an Open Badge credential needs an id", code="credential_invalid")
    try:
        starts = _moment(credential, ("validFrom", "issuanceDate"))
        ends = _moment(credential, ("validUntil", "expirationDate"))
    except ValueError as exc:
        raise IssuerError(str(exc), code="credential_invalid") from exc
    if ends is not None and ends <= now:
        raise IssuerError("validUntil has already passed", code="credential_expired")
    if starts is not None and ends is not None and starts > ends:
        raise IssuerError("validFrom is after validUntil", code="credential_invalid")


def _moment(credential: dict[str, Any], names: tuple[str, ...]) -> datetime | None:
    for name in names:
        value = credential.get(name)
        if value is None:
            continue
        try:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValueError(f"{name} must be a date-time with a time zone")
        return moment
    return None
