"""Holder presentations (issue 14 item 1): a VerifiablePresentation the holder signs
(eddsa-rdfc-2022, proofPurpose authentication, the verifier's challenge and domain in the
proof), and the checks a verifier adds to chain.presentation's: the holder is the subject
of every credential, and the proof names the challenge and domain the verifier expects.

Pure. The verifier's memory of used challenges (replay) is the caller's (node/challenges.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from .badge import BNS_URN_PREFIX
from .errors import BadgeChainError
from .keys import KeyPair
from .multibase import multibase_encode_b58
from .presentation import is_presentation, verify_presentation
from .proof import RDFC, format_created, proof_list, signing_input
from .report import Check, Report, finish_report
from .resolve import Resolvers
from .staple import CredentialVerifier, credential_uid_text
from .stapled import STAPLES_PROPERTY, staples_value
from .structure import VC2_CONTEXT

__all__ = [
    "MAX_BINDING_CHARS",
    "Binding",
    "HolderError",
    "build_presentation",
    "check_binding",
    "check_holder",
    "sign_presentation",
    "verify_holder_presentation",
]

MAX_BINDING_CHARS: Final = 256  # a challenge or a domain
MAX_CHAIN_LINKS: Final = 8


class HolderError(BadgeChainError):
    """A presentation that does not hold for this verifier; `code` says why."""

    code = "presentation_invalid"
    http_status = 422


@dataclass(frozen=True, slots=True)
class Binding:
    """What a verifier asked the holder to sign: its challenge, and its domain."""

    challenge: str
    domain: str

    def __post_init__(self) -> None:
        for name in ("challenge", "domain"):
            value = getattr(self, name)
            if not isinstance(value, str) or not 0 < len(value) <= MAX_BINDING_CHARS:
                raise HolderError(
                    f"{name} is 1 to {MAX_BINDING_CHARS} characters", code=f"{name}_invalid"
                )


def build_presentation(
    holder_did: str, credentials: list[dict[str, Any]], staples: list[dict[str, Any]]
) -> dict[str, Any]:
    """An unsigned presentation of `credentials` by `holder_did`, with their staples."""
    presentation: dict[str, Any] = {
        "@context": [VC2_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": holder_did,
        "verifiableCredential": credentials,
    }
    if staples:
        presentation[STAPLES_PROPERTY] = staples_value(staples)
    return presentation


def sign_presentation(
    presentation: dict[str, Any], key: KeyPair, binding: Binding, *, created: datetime
) -> dict[str, Any]:
    """`presentation` with the holder's authentication proof bound to `binding`."""
    proof = {
        "type": "DataIntegrityProof",
        "cryptosuite": RDFC,
        "created": format_created(created),
        "verificationMethod": key.verification_method,
        "proofPurpose": "authentication",
        "challenge": binding.challenge,
        "domain": binding.domain,
    }
    unsigned = {name: value for name, value in presentation.items() if name != "proof"}
    signature = key.sign(signing_input(unsigned, proof))
    return unsigned | {"proof": proof | {"proofValue": multibase_encode_b58(signature)}}


def check_binding(presentation: dict[str, Any], binding: Binding) -> None:
    """The proof names the verifier's challenge and domain (HolderError otherwise)."""
    proofs = proof_list(presentation)
    proof = proofs[0] if len(proofs) == 1 else {}
    if proof.get("challenge") != binding.challenge:
        raise HolderError(
            "the presentation is not signed for this challenge", code="challenge_mismatch"
        )
    domain = proof.get("domain")
    domains = domain if isinstance(domain, list) else [domain]
    if binding.domain not in domains:
        raise HolderError(
            f"the presentation is for domain {domain!r:.80}, not {binding.domain!r:.80}",
            code="domain_mismatch",
        )


def check_holder(presentation: dict[str, Any]) -> None:
    """Every credential is about the holder: its subject is the holder's DID, or a badge
    carried in the presentation (a persona's genesis badge) that is, in up to 8 links."""
    holder = presentation.get("holder")
    holder = holder.get("id") if isinstance(holder, dict) else holder
    if not isinstance(holder, str):
        raise HolderError("the presentation names no holder", code="holder_missing")
    carried = presentation.get("verifiableCredential", [])
    carried = carried if isinstance(carried, list) else [carried]
    by_uid = {credential_uid_text(item): item for item in carried if isinstance(item, dict)}
    for index, credential in enumerate(carried):
        if _root_subject(credential, by_uid) != holder:
            raise HolderError(
                f"credential {index} is not about the holder {holder:.80}",
                code="presentation_not_holder",
            )


def _root_subject(credential: object, by_uid: dict[str | None, dict[str, Any]]) -> str | None:
    for _ in range(MAX_CHAIN_LINKS):
        subject = _subject_id(credential)
        if subject is None or not subject.startswith(BNS_URN_PREFIX):
            return subject
        credential = by_uid.get(subject[len(BNS_URN_PREFIX) :])
    return None


def _subject_id(credential: object) -> str | None:
    subject = credential.get("credentialSubject") if isinstance(credential, dict) else None
    subject = subject[0] if isinstance(subject, list) and len(subject) == 1 else subject
    value = subject.get("id") if isinstance(subject, dict) else None
    return value if isinstance(value, str) else None


def verify_holder_presentation(
    presentation: object,
    binding: Binding,
    *,
    now: datetime,
    resolvers: Resolvers,
    verify_credential: CredentialVerifier,
) -> Report:
    """chain.presentation's report, with this verifier's checks: the holder is each
    credential's subject (`issuer_key`), the proof's challenge and domain (`proof`)."""
    if not isinstance(presentation, dict) or not is_presentation(presentation):
        failed = Check("input", "failed", "presentation_invalid", "not a VerifiablePresentation")
        return _failed_report(failed)
    report = verify_presentation(
        presentation, now=now, resolvers=resolvers, verify_credential=verify_credential
    )
    if report.check("proof").status != "passed":
        return report
    try:
        check_binding(presentation, binding)
        check_holder(presentation)
    except HolderError as exc:
        holder_codes = ("presentation_not_holder", "holder_missing")
        name = "issuer_key" if exc.code in holder_codes else "proof"
        return _with_failure(report, Check(name, "failed", exc.code, exc.message))
    return report


def _with_failure(report: Report, failed: Check) -> Report:
    checks = tuple(failed if check.name == failed.name else check for check in report.checks)
    return dataclasses.replace(report, verdict="invalid", checks=checks)


def _failed_report(failed: Check) -> Report:
    return finish_report("presentation", None, [failed])
