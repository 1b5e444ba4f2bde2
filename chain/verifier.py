"""One verification run of an OB 3.0 / W3C credential: the checks of CHECK_NAMES in order,
each turned into a Check; a badge chain and embedded endorsements verified by inner runs.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import jose
from .badge import BNS_URN_PREFIX
from .endorsements import MAX_ENDORSEMENT_DEPTH, Embedded, embedded_endorsements
from .errors import BadgeChainError
from .proof import proof_list
from .report import CHECK_NAMES, CLOCK_SKEW, Check, Report, finish_report
from .resolve import Unreachable
from .structure import VC1_CONTEXT, check_ob3_structure, check_vc_data_model, is_open_badge
from .verify_network import NetworkChecks
from .verify_proofs import ProofChecks

__all__ = ["MAX_CHAIN_DEPTH", "Verifier"]

logger = logging.getLogger(__name__)
MAX_CHAIN_DEPTH = 8
# An endorsement that fails only these has lapsed (expired, withdrawn): reported, not fatal.
_LAPSED_CHECKS = frozenset({"validity", "revocation", "status"})


class Verifier(ProofChecks, NetworkChecks):
    """One verification run; each `_check_*` method returns the Check it names."""

    def run(self, credential: object) -> Report:
        checks = [Check("input", "passed", "ok", f"read as {self.fmt}")]
        if not isinstance(credential, dict):
            checks[0] = Check(
                "input", "failed", "not_an_object", "the credential is not a JSON object"
            )
            return finish_report(self.fmt, None, checks)
        self.credential = credential
        self.checks = checks  # later checks read earlier ones (revocation reads bns)
        # Every check after `input`, in the order of CHECK_NAMES.
        steps: list[Callable[[], Check]] = [
            getattr(self, f"_check_{name}") for name in CHECK_NAMES[1:]
        ]
        for step in steps:
            try:
                checks.append(step())
            except Unreachable as exc:
                checks.append(
                    Check(_step_name(step), "skipped", exc.code, exc.message, blocking=True)
                )
            except BadgeChainError as exc:
                checks.append(Check(_step_name(step), "failed", exc.code, exc.message))
            except Exception:  # a bug must not turn hostile input into a crash of the caller
                logger.exception("verification step %s failed unexpectedly", _step_name(step))
                checks.append(
                    Check(_step_name(step), "failed", "internal_error", "internal verifier error")
                )
            if checks[-1].name == "proof" and checks[-1].status != "passed":
                break  # nothing after the proof means anything without it
        return finish_report(self.fmt, self.uid, checks, credential)

    # -- structure ---------------------------------------------------------------------

    def _check_vc_model(self) -> Check:
        check = _problems_check("vc_model", check_vc_data_model(self.credential), "VC data model")
        context = self.credential.get("@context")
        if check.status == "passed" and isinstance(context, list) and context[:1] == [VC1_CONTEXT]:
            # Accepted as 1EdTech's validator does: valid, with a warning.
            return Check(
                "vc_model", "passed", "vc_v1_data_model", "VC Data Model 1.1 (superseded by 2.0)"
            )
        return check

    def _check_ob_structure(self) -> Check:
        if not is_open_badge(self.credential):
            return Check(
                "ob_structure", "skipped", "not_open_badge", "a credential, not an Open Badge"
            )
        return _problems_check(
            "ob_structure", check_ob3_structure(self.credential), "Open Badges 3.0"
        )

    def _check_chain(self) -> Check:
        """The badge chain (a urn:bns: subject) and then every embedded endorsement."""
        walked = self._walk_chain()
        items = embedded_endorsements(self.credential)
        if not items:
            return walked
        if self.endorsement_depth >= MAX_ENDORSEMENT_DEPTH:
            raise BadgeChainError(
                "endorsements are nested too deep to verify", code="endorsement_too_deep"
            )
        self.endorsement_budget.take(len(items))
        outcomes = [(item, self._verify_endorsement(item)) for item in items]
        for item, report in outcomes:
            failed = report.failed
            if failed is not None and failed.name not in _LAPSED_CHECKS:
                raise BadgeChainError(
                    f"the endorsement at {item.where} is not valid "
                    f"({failed.name}: {failed.code}: {failed.message:.120})",
                    code="endorsement_invalid",
                )
        for item, report in outcomes:
            if report.verdict == "indeterminate":
                raise Unreachable(
                    f"the endorsement at {item.where} could not be verified",
                    code="endorsement_indeterminate",
                )
        lapsed = [item.where for item, report in outcomes if report.verdict == "invalid"]
        message = f"{walked.message}; {len(items) - len(lapsed)} endorsement(s) verified"
        if lapsed:  # expired or withdrawn by its endorser: the badge itself stands
            message += f", {len(lapsed)} lapsed (first at {lapsed[0]})"
            return Check("chain", walked.status, "endorsement_lapsed", message)
        code = "endorsements_ok" if walked.status == "passed" else walked.code
        return Check("chain", walked.status, code, message, blocking=walked.blocking)

    def _verify_endorsement(self, item: Embedded) -> Report:
        """An embedded endorsement verified as a credential of its own, with the verifier's
        resolvers but not the BNS or the trust list (those speak about the badge's issuer)."""
        jws: jose.Jws | None = None
        credential = item.value
        try:
            if item.is_jwt:
                if not isinstance(item.value, str):
                    raise BadgeChainError("endorsementJwt is not text", code="jws_malformed")
                jws = jose.parse_compact_jws(item.value)
                credential = jose.credential_from_jwt(jws).credential
        except BadgeChainError as exc:
            return finish_report("vc-jwt", None, [Check("input", "failed", exc.code, exc.message)])
        resolvers = dataclasses.replace(self.resolvers, bns=None, trust=None)
        fmt = "vc-jwt" if item.is_jwt else "json"
        inner = Verifier(self.now, resolvers, None, fmt, jws, self.depth, self.seen)
        inner.endorsement_depth = self.endorsement_depth + 1
        inner.endorsement_budget = self.endorsement_budget
        return inner.run(credential)

    def _walk_chain(self) -> Check:
        subject = self.subject_id
        # Whom the badge is finally about: its did:key subject, or through urn:bns: links the
        # subject at the root of the chain (a persona's genesis badge names its own key).
        # `_check_bns` holds the BNS entry's earner to it; unknown until the chain is walked.
        self.chain_earner: str | None = subject
        self.chain_walked = subject is None or not subject.startswith(BNS_URN_PREFIX)
        self.chain_length = 1  # badges in the chain, this one included
        if subject is None or self.chain_walked:
            return Check("chain", "passed", "no_chain", "the subject is not another badge")
        linked_uid = subject[len(BNS_URN_PREFIX) :]
        if self.resolvers.badges is None:  # whom the badge is about was not checked
            return Check(
                "chain",
                "skipped",
                "chain_unchecked_offline",
                f"linked badge {linked_uid[:16]}… not fetched",
                blocking=True,
            )
        seen = self.seen | {self.uid or ""}
        if linked_uid in seen:
            raise BadgeChainError("the badge chain loops", code="chain_loop")
        if self.depth + 1 >= MAX_CHAIN_DEPTH:
            raise BadgeChainError(
                f"the badge chain is deeper than {MAX_CHAIN_DEPTH}", code="chain_too_deep"
            )
        linked = self.resolvers.badges(linked_uid)
        if linked is None:
            raise BadgeChainError(
                f"linked badge {linked_uid[:16]}… not found", code="chain_link_missing"
            )
        inner = Verifier(self.now, self.resolvers, linked_uid, "json", None, self.depth + 1, seen)
        inner.endorsement_budget = self.endorsement_budget
        # Each UID signs the link to the badge before it, so no signed chain can loop: a
        # ring is only ever served by a lying fetcher. Refuse it before any cryptography.
        inner.credential = linked if isinstance(linked, dict) else {}
        if inner.subject_id in {BNS_URN_PREFIX + uid for uid in seen | {linked_uid}}:
            raise BadgeChainError("the badge chain loops", code="chain_loop")
        report = inner.run(linked)
        if report.verdict != "valid":
            failed = report.failed
            why = f"{failed.name}: {failed.message}" if failed else report.verdict
            code = (
                failed.code if failed and failed.code.startswith("chain_") else "chain_link_invalid"
            )
            if report.verdict == "indeterminate":
                raise Unreachable(f"linked badge {linked_uid[:16]}… could not be verified")
            raise BadgeChainError(
                f"linked badge {linked_uid[:16]}… is not valid ({why})", code=code
            )
        self.chain_earner, self.chain_walked = inner.chain_earner, True
        self.chain_length = inner.chain_length + 1
        return Check(
            "chain", "passed", "ok", f"chain verified through {self.chain_length} badge(s)"
        )

    def _check_validity(self) -> Check:
        valid_from = _timestamp(self.credential, ("validFrom", "issuanceDate"))
        valid_until = _timestamp(self.credential, ("validUntil", "expirationDate"))
        if valid_from is not None and valid_from > self.now + CLOCK_SKEW:
            raise BadgeChainError(
                f"not valid before {valid_from.isoformat()}", code="not_yet_valid"
            )
        if valid_until is not None and valid_until <= self.now:
            raise BadgeChainError(f"expired at {valid_until.isoformat()}", code="expired")
        for proof in proof_list(self.credential) if self.jws is None else []:
            created = _timestamp(proof, ("created",))
            if created is not None and created > self.now + CLOCK_SKEW:
                raise BadgeChainError(
                    "a proof was created in the future", code="proof_created_future"
                )
        return Check("validity", "passed", "ok", "within its validity window")

    def _check_trust(self) -> Check:
        policy = self.resolvers.trust
        if policy is None:
            return Check("trust", "skipped", "no_policy", "no local trust registry")
        return policy.check(self.issuer_id)


def _step_name(step: Callable[[], Check]) -> str:
    return step.__name__.removeprefix("_check_")


def _problems_check(name: str, problems: list[Any], what: str) -> Check:
    if not problems:
        return Check(name, "passed", "ok", f"{what} structure is sound")
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return Check(name, "failed", first.code, f"{first.path}: {first.message}{more}")


def _timestamp(holder: dict[str, Any], names: tuple[str, ...]) -> datetime | None:
    for name in names:
        value = holder.get(name)
        if value is None:
            continue
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise BadgeChainError(f"{name} is not a date-time", code="date_invalid") from exc
        if moment.tzinfo is None:
            raise BadgeChainError(f"{name} has no time zone", code="date_invalid")
        return moment.astimezone(UTC)
    return None
