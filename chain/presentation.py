"""Verifiable Presentations: the holder's proof (eddsa-rdfc-2022, purpose authentication; or a
Blockcerts Merkle receipt) and every credential the presentation carries.

A presentation is invalid when its proof or any credential in it fails; indeterminate when one
of them could not be answered.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from . import blockcerts
from .errors import BadgeChainError
from .keys import verify_signature
from .proof import proof_list, proof_value_bytes, signing_input
from .report import Check, Report, finish_report
from .resolve import Resolvers, Unreachable, resolve_verification_method
from .stapled import presentation_staples, stapled_note, stapling, unmatched_staples
from .structure import VC1_CONTEXT, VC2_CONTEXT

__all__ = ["MAX_CREDENTIALS", "CredentialVerifier", "is_presentation", "verify_presentation"]

MAX_CREDENTIALS = 16
SIGNED_SUITES = ("eddsa-rdfc-2022",)


class CredentialVerifier(Protocol):
    """chain.verify.verify_credential, handed in: it dispatches back to this module for a
    presentation, so importing it here would make an import cycle."""

    def __call__(
        self, credential: object, *, now: datetime, resolvers: Resolvers | None = None
    ) -> Report: ...


def is_presentation(document: object) -> bool:
    kinds = document.get("type") if isinstance(document, dict) else None
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return "VerifiablePresentation" in kinds


def verify_presentation(
    presentation: dict[str, Any],
    *,
    now: datetime,
    resolvers: Resolvers,
    verify_credential: CredentialVerifier,
) -> Report:
    checks = [Check("input", "passed", "ok", "read as a Verifiable Presentation")]
    try:
        credentials = _structure(presentation)
        checks.append(Check("vc_model", "passed", "ok", "presentation structure is sound"))
    except BadgeChainError as exc:
        checks.append(Check("vc_model", "failed", exc.code, exc.message))
        return finish_report("presentation", None, checks, presentation)
    checks += _proof_checks(presentation, now, resolvers)
    seen: list[Report] = []  # each carried credential's report, for its trust check
    if not any(check.status == "failed" for check in checks):
        staples = presentation_staples(presentation)  # docs/presentations.md
        verify = _recording(stapling(verify_credential, staples, credentials), seen)
        check = _credentials_check(credentials, now, resolvers, verify)
        stray = unmatched_staples(staples, credentials)
        checks.append(replace(check, message=f"{check.message}; {stray}") if stray else check)
    for name, code in (("uid", "uid_not_applicable"), ("bns", "bns_not_applicable")):
        checks.append(Check(name, "skipped", code, "a presentation is not a BadgeChain badge"))
    checks.append(Check("ob_structure", "skipped", "not_open_badge", "a presentation"))
    for name in ("revocation", "status"):  # each carried credential's report has them
        checks.append(Check(name, "skipped", "per_credential", "checked for each credential"))
    checks.append(_trust_of(seen))
    return finish_report("presentation", None, checks, presentation)


def _recording(verify: CredentialVerifier, seen: list[Report]) -> CredentialVerifier:
    def record(credential: object, *, now: datetime, resolvers: Resolvers | None = None) -> Report:
        report = verify(credential, now=now, resolvers=resolvers)
        seen.append(report)
        return report

    return record


def _trust_of(reports: list[Report]) -> Check:
    """The verifier's trust registry on each carried credential's issuer: passed when it
    passed for all (naming each), else the first other answer. A denial already failed the
    `chain` check, so it is said here without failing twice."""
    if not reports:
        return Check("trust", "skipped", "per_credential", "checked for each credential")
    said = [(index, report.check("trust")) for index, report in enumerate(reports)]
    other = next(((i, c) for i, c in said if c.status != "passed"), None)
    if other is None:
        message = "; ".join(f"credential {i}: {c.message}" for i, c in said)
        return Check("trust", "passed", "ok", message)
    index, check = other
    return Check("trust", "skipped", check.code, f"credential {index}: {check.message}")


def _structure(presentation: dict[str, Any]) -> list[dict[str, Any]]:
    context = presentation.get("@context")
    first = context[0] if isinstance(context, list) and context else context
    if first not in (VC1_CONTEXT, VC2_CONTEXT):
        raise BadgeChainError(
            "the first @context must be the VC context", code="vc_context_invalid"
        )
    carried = presentation.get("verifiableCredential", [])
    carried = carried if isinstance(carried, list) else [carried]
    if len(carried) > MAX_CREDENTIALS:
        raise BadgeChainError(
            f"more than {MAX_CREDENTIALS} credentials", code="presentation_too_large"
        )
    if not all(isinstance(item, dict) and not is_presentation(item) for item in carried):
        raise BadgeChainError(
            "verifiableCredential must hold credential objects", code="presentation_invalid"
        )
    return carried


def _proof_checks(presentation: dict[str, Any], now: datetime, resolvers: Resolvers) -> list[Check]:
    """issuer_key (the holder's key) and proof checks for the presentation's own proof."""
    proofs = proof_list(presentation)
    if len(proofs) != 1:
        return [Check("proof", "failed", "proof_missing", "a presentation needs one proof")]
    proof = proofs[0]
    if blockcerts.is_merkle_proof(proof):  # a Blockcerts presentation: hashed and anchored
        report = blockcerts.verify_blockcerts(presentation, now=now, resolvers=resolvers)
        return [report.check("issuer_key"), report.check("proof"), report.check("validity")]
    try:
        return _signed(presentation, proof, resolvers)
    except Unreachable as exc:
        return [Check("issuer_key", "skipped", exc.code, exc.message, blocking=True)]
    except BadgeChainError as exc:
        return [Check("proof", "failed", exc.code, exc.message)]


def _signed(
    presentation: dict[str, Any], proof: dict[str, Any], resolvers: Resolvers
) -> list[Check]:
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") not in SIGNED_SUITES:
        raise BadgeChainError(
            f"unsupported presentation proof {proof.get('type')!r:.60}", code="proof_unsupported"
        )
    if proof.get("proofPurpose") != "authentication":
        raise BadgeChainError(
            "a presentation's proofPurpose must be authentication", code="proof_purpose_invalid"
        )
    key = resolve_verification_method(str(proof.get("verificationMethod")), resolvers.did_documents)
    holder = presentation.get("holder")
    holder = holder.get("id") if isinstance(holder, dict) else holder
    if holder is not None and holder != key.controller:
        raise BadgeChainError("the proof's key is not the holder's", code="holder_key_mismatch")
    signature = proof_value_bytes(proof)
    if not verify_signature(key.public_key, signing_input(presentation, proof), signature):
        raise BadgeChainError(
            "the signature does not match the presentation", code="signature_invalid"
        )
    bound = ", ".join(
        f"{name} {proof[name]!r:.80}" for name in ("challenge", "domain") if name in proof
    )
    return [
        Check("issuer_key", "passed", "ok", f"signed by {key.controller:.100}"),
        Check(
            "proof",
            "passed",
            "ok",
            f"eddsa-rdfc-2022 authentication verified ({bound or 'no challenge'})",
        ),
    ]


def _credentials_check(
    credentials: list[dict[str, Any]],
    now: datetime,
    resolvers: Resolvers,
    verify_credential: CredentialVerifier,
) -> Check:
    """Every carried credential is verified on its own; the worst verdict decides."""
    if not credentials:
        return Check("chain", "passed", "no_credentials", "the presentation carries no credential")
    reports = [verify_credential(item, now=now, resolvers=resolvers) for item in credentials]
    for index, report in enumerate(reports):
        failed = report.failed
        if failed is not None:
            return Check(
                "chain",
                "failed",
                "presentation_credential_invalid",
                f"credential {index}: {failed.name} {failed.code}: {failed.message:.200}",
            )
    for index, report in enumerate(reports):
        if report.verdict == "indeterminate":
            blocking = next(check for check in report.checks if check.blocking)
            return Check(
                "chain",
                "skipped",
                blocking.code,
                f"credential {index}: {blocking.name}: {blocking.message:.200}",
                blocking=True,
            )
    note = stapled_note(reports)  # an offline verifier says what answered for it
    message = f"{len(reports)} credential(s) verified" + (f"; {note}" if note else "")
    return Check("chain", "passed", "ok", message)
