"""Verification of a badge: a report of named checks and a verdict. Pure and total:
any input gives a report, never an exception.

Checks, in the order of the design: input → vc_model → ob_structure → issuer_key →
proof → uid → chain → bns → revocation → status → validity → trust.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from . import bake, ecdsa_sd, jose, jwtkey, statuslist
from .badge import BNS_URN_PREFIX, issuer_id
from .endorsements import MAX_ENDORSEMENT_DEPTH, Budget, Embedded, embedded_endorsements
from .errors import BadgeChainError, InputTooLarge
from .jsonio import MAX_JSON_BYTES, MAX_JSON_DEPTH, parse_json
from .keys import did_key_from_public_key
from .proof import ProofCheck, proof_list, proof_suite, proof_value_bytes, verify_proof
from .resolve import ResolvedKey, Resolvers, Unreachable, resolve_verification_method
from .structure import VC1_CONTEXT, check_ob3_structure, check_vc_data_model, is_open_badge

__all__ = [
    "CHECK_NAMES",
    "Check",
    "Report",
    "input_too_large_report",
    "verify_badge",
    "verify_credential",
]

logger = logging.getLogger(__name__)
CheckStatus = Literal["passed", "failed", "skipped"]
Verdict = Literal["valid", "invalid", "indeterminate"]
CHECK_NAMES = (
    "input",
    "vc_model",
    "ob_structure",
    "issuer_key",
    "proof",
    "uid",
    "chain",
    "bns",
    "revocation",
    "status",
    "validity",
    "trust",
)
MAX_INPUT_BYTES = 10 * 1024 * 1024
MAX_CHAIN_DEPTH = 8
MAX_STATUS_ENTRIES = 8  # credentialStatus entries read per credential
CLOCK_SKEW = timedelta(minutes=5)
OB2_CONTEXT = "https://w3id.org/openbadges/v2"
# An endorsement that fails only these has lapsed (expired, withdrawn): reported, not fatal.
_LAPSED_CHECKS = frozenset({"validity", "revocation", "status"})


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: CheckStatus
    code: str
    message: str
    # A skipped check is blocking when the answer was needed but could not be had.
    blocking: bool = False

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status,
            "code": self.code,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Report:
    verdict: Verdict
    uid: str | None
    format: str
    checks: tuple[Check, ...]
    credential: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def failed(self) -> Check | None:
        return next((check for check in self.checks if check.status == "failed"), None)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "uid": self.uid,
            "format": self.format,
            "checks": [check.to_json() for check in self.checks],
        }


def input_too_large_report() -> Report:
    """The report on an input over MAX_INPUT_BYTES, for a caller that stopped reading it."""
    message = f"input is over {MAX_INPUT_BYTES} bytes"
    return _finish("unknown", None, [Check("input", "failed", "input_too_large", message)])


def verify_badge(
    data: bytes,
    *,
    now: datetime,
    resolvers: Resolvers | None = None,
    expected_uid: str | None = None,
    recipient: str | None = None,
) -> Report:
    """Verify a badge given as bytes: JSON, a VC-JWT, or a baked PNG or SVG.

    `recipient` (an email or other identity) is checked against an OB 2.0 badge's recipient.
    """
    try:
        if len(data) > MAX_INPUT_BYTES:
            return input_too_large_report()
        fmt, credential, jws = _read_input(data)
    except BadgeChainError as exc:
        return _finish("unknown", None, [Check("input", "failed", exc.code, exc.message)])
    if fmt in ("json", "ob2/json"):  # Blockcerts v2 carries the OB 2.0 context
        other = _other_format(credential, now, resolvers)
        if other is not None:
            return other
    if fmt.startswith("ob2"):
        from .ob2 import verify_ob2  # imported late: chain.ob2 builds on Report

        return verify_ob2(
            fmt, credential, jws, now=now, resolvers=resolvers or Resolvers(), recipient=recipient
        )
    return _Verifier(now, resolvers or Resolvers(), expected_uid, fmt, jws).run(credential)


def verify_credential(
    credential: object,
    *,
    now: datetime,
    resolvers: Resolvers | None = None,
    expected_uid: str | None = None,
    fmt: str = "json",
) -> Report:
    """Verify an already parsed credential."""
    try:  # the same limits as JSON read from bytes: the caller may have parsed without them
        _check_bounds(credential)
    except BadgeChainError as exc:
        return _finish(fmt, None, [Check("input", "failed", exc.code, exc.message)])
    other = _other_format(credential, now, resolvers)
    if other is not None:
        return other
    return _Verifier(now, resolvers or Resolvers(), expected_uid, fmt, None).run(credential)


def _other_format(data: object, now: datetime, resolvers: Resolvers | None) -> Report | None:
    """Presentations, Blockcerts and badge.blue records go to their own verifiers."""
    from .formats import verify_other_format  # imported late: those modules build on Report

    return verify_other_format(data, now=now, resolvers=resolvers or Resolvers())


def _read_input(data: bytes) -> tuple[str, object, jose.Jws | None]:
    from .ob2_checks import is_ob2_family  # chain.ob2 imports this module

    start = data.lstrip()[:8]
    if data.startswith(b"\x89PNG") or start.startswith(b"<"):
        unbaked = bake.unbake(data)
        if unbaked.kind == "ob2":  # JSON, a signed JWS or a hosted URL: chain.ob2 reads it
            return f"ob2/{unbaked.container}", unbaked.payload, None
        if unbaked.encoding == "jwt":
            jws = jose.parse_compact_jws(unbaked.payload)
            return f"{unbaked.container}/vc-jwt", jose.credential_from_jwt(jws).credential, jws
        return unbaked.container, parse_json(unbaked.payload), None
    if start.startswith((b"{", b"[")) or not start:
        document = parse_json(data)
        if is_ob2_family(document):  # OB 2.0, 1.x and 0.5 JSON
            return "ob2/json", document, None
        return "json", document, None
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise BadgeChainError(
            "input is neither JSON, a VC-JWT, PNG nor SVG", code="format_unknown"
        ) from exc
    jws = jose.parse_compact_jws(token)
    if is_ob2_family(jws.payload):  # an OB 2.0 signed assertion
        return "ob2/jws", None, jws
    return "vc-jwt", jose.credential_from_jwt(jws).credential, jws


def _finish(fmt: str, uid: str | None, checks: list[Check], credential: Any = None) -> Report:
    named = {check.name for check in checks}
    checks += [
        Check(name, "skipped", "not_reached", "not checked")
        for name in CHECK_NAMES
        if name not in named
    ]
    checks.sort(key=lambda check: CHECK_NAMES.index(check.name))
    if any(check.status == "failed" for check in checks):
        verdict: Verdict = "invalid"
    elif any(check.blocking for check in checks):
        verdict = "indeterminate"
    else:
        verdict = "valid"
    return Report(
        verdict, uid, fmt, tuple(checks), credential if isinstance(credential, dict) else None
    )


class _Verifier:
    """One verification run; each `_check_*` method returns the Check it names."""

    def __init__(
        self,
        now: datetime,
        resolvers: Resolvers,
        expected_uid: str | None,
        fmt: str,
        jws: jose.Jws | None,
        depth: int = 0,
        seen: frozenset[str] = frozenset(),
    ) -> None:
        self.now = now.astimezone(UTC)
        self.resolvers = resolvers
        self.expected_uid = expected_uid
        self.fmt = fmt
        self.jws = jws
        self.depth = depth
        self.seen = seen
        self.uid: str | None = None
        self.keys: dict[str, ResolvedKey] = {}
        self.unreachable: dict[str, Unreachable] = {}
        self.endorsement_depth = 0
        self.endorsement_budget = Budget()

    def run(self, credential: object) -> Report:
        checks = [Check("input", "passed", "ok", f"read as {self.fmt}")]
        if not isinstance(credential, dict):
            checks[0] = Check(
                "input", "failed", "not_an_object", "the credential is not a JSON object"
            )
            return _finish(self.fmt, None, checks)
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
        return _finish(self.fmt, self.uid, checks, credential)

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

    # -- keys and proofs -------------------------------------------------------------------

    @property
    def issuer_id(self) -> str:
        return issuer_id(self.credential)

    def _check_issuer_key(self) -> Check:
        if self.jws is not None:
            return self._check_jwt_issuer_key(self.jws)
        proofs = proof_list(self.credential)
        for proof in proofs:
            ecdsa_sd.refuse_base_proof(proof)  # no key can make a base proof verifiable
            vm = proof.get("verificationMethod")
            resolve = (
                ecdsa_sd.resolve_p256_method
                if ecdsa_sd.is_ecdsa_sd(proof)
                else resolve_verification_method
            )
            if isinstance(vm, str):
                try:
                    self.keys[vm] = resolve(vm, self.resolvers.did_documents)
                except Unreachable as exc:
                    self.unreachable[vm] = exc
        if any(vm.partition("#")[0] == self.issuer_id for vm in self.unreachable):
            raise next(iter(self.unreachable.values()))
        issuer_keys = [key for key in self.keys.values() if key.controller == self.issuer_id]
        if not proofs:
            raise BadgeChainError("the credential has no proof", code="proof_missing")
        if not issuer_keys and not self.issuer_id.startswith("did:") and self.keys:
            # A urn: names no one who could control a key, and an https: issuer's profile is
            # not read (the W3C vc-di-eddsa vectors): the signer is known, the binding is not.
            return Check(
                "issuer_key",
                "skipped",
                "issuer_key_unconfirmed",
                f"the issuer {self.issuer_id:.60} cannot be bound to the signing key",
            )
        if not issuer_keys:
            # @digitalbazaar/vc binds the same way: the issuer must control the proof's key.
            raise BadgeChainError(
                "no proof is made with a key of the issuer", code="issuer_key_mismatch"
            )
        if not all(key.confirmed for key in issuer_keys):
            return Check(
                "issuer_key",
                "skipped",
                "issuer_key_unconfirmed",
                "the key is read from the verification method URL; the issuer profile was not read",
            )
        return Check(
            "issuer_key", "passed", "ok", f"the proof key is controlled by {self.issuer_id:.100}"
        )

    def _check_jwt_issuer_key(self, jws: jose.Jws) -> Check:
        """The VC-JWT's key: its `kid` dereferenced (did:key, did:web, a JWKS URL), else the
        header `jwk`. Kept for `_check_proof`, with the error that stopped finding it."""
        try:
            self.jwt_key = jwtkey.find_jwt_key(jws, self.issuer_id, self.resolvers)
        except BadgeChainError as exc:  # Unreachable included: the proof check re-raises it
            self.jwt_key_error = exc
            raise
        iss = jws.payload.get("iss")
        if iss is not None and iss != self.issuer_id:
            # OB 3.0 "JSON Web Token Proof Format": iss is the issuer's id (a signed claim
            # naming someone else is a token made for another credential).
            raise BadgeChainError(
                "the JWT iss claim is not the credential's issuer", code="jwt_iss_mismatch"
            )
        key = self.jwt_key
        if key.source == "did" and key.controller != self.issuer_id:
            raise BadgeChainError(
                "the VC-JWT's kid is a key of another DID than the issuer's",
                code="issuer_key_mismatch",
            )
        if key.source == "did" or (
            key.source == "jwks" and jwtkey.same_origin(key.controller, self.issuer_id)
        ):
            where = "DID" if key.source == "did" else "key set"
            return Check("issuer_key", "passed", "ok", f"the JWT key is in the issuer's {where}")
        why = (
            "the VC-JWT carries its own key"
            if key.source == "header"
            else f"the key set {key.controller:.80} is not on the issuer's origin"
        )
        return Check(
            "issuer_key",
            "skipped",
            "issuer_key_unconfirmed",
            f"{why}; the issuer's control of it is not confirmed",
        )

    def _check_proof(self) -> Check:
        if self.jws is not None:
            key = getattr(self, "jwt_key", None)
            if key is None:
                raise getattr(self, "jwt_key_error", None) or BadgeChainError(
                    "the VC-JWT key was not found", code="jws_key_missing"
                )
            jose.verify_jws_with_jwk(self.jws, key.jwk)
            return Check(
                "proof", "passed", "ok", f"VC-JWT {self.jws.header.get('alg')} signature verified"
            )
        results = [self._verify_one(proof) for proof in proof_list(self.credential)]
        bad = next((result for result in results if not result.ok), None)
        if bad is not None:
            return Check("proof", "failed", bad.code, bad.message)
        warning = next((result for result in results if result.code != "ok"), None)
        if warning is not None:  # passed, with the warning's code (a legacy suite)
            return Check("proof", "passed", warning.code, warning.message)
        return Check("proof", "passed", "ok", f"{len(results)} proof(s) verified")

    def _verify_one(self, proof: dict[str, Any]) -> ProofCheck:
        if ecdsa_sd.is_ecdsa_sd(proof):
            return self._verify_ecdsa_sd(proof)
        if proof_suite(proof) is None:
            suite = proof.get("cryptosuite")
            name = f"{proof.get('type')}/{suite}" if suite else str(proof.get("type"))
            return ProofCheck(
                proof, False, "proof_unsupported", f"unsupported proof type {name:.80}"
            )
        vm = str(proof.get("verificationMethod"))
        if vm in self.unreachable:
            raise self.unreachable[vm]
        key = self.keys.get(vm)
        if key is None:
            return ProofCheck(proof, False, "verification_method_invalid", "the proof names no key")
        return verify_proof(self.credential, proof, key.public_key)

    def _verify_ecdsa_sd(self, proof: dict[str, Any]) -> ProofCheck:
        """A derived ecdsa-sd-2023 proof, with the issuer's P-256 key."""
        vm = str(proof.get("verificationMethod"))
        if vm in self.unreachable:
            raise self.unreachable[vm]
        key = self.keys.get(vm)
        try:
            ecdsa_sd.refuse_base_proof(proof)
            if key is None:
                raise BadgeChainError("the proof names no key", code="verification_method_invalid")
            ecdsa_sd.verify_derived_proof(self.credential, proof, key.public_key)
        except BadgeChainError as exc:
            return ProofCheck(proof, False, exc.code, exc.message)
        return ProofCheck(proof, True, "ok", "ecdsa-sd-2023 derived proof verified")

    def _check_uid(self) -> Check:
        if self.jws is not None:
            return Check(
                "uid", "skipped", "uid_not_applicable", "a VC-JWT has no Data Integrity UID"
            )
        proofs = proof_list(self.credential)
        if proofs and all(ecdsa_sd.is_ecdsa_sd(proof) for proof in proofs):
            return Check(
                "uid",
                "skipped",
                "uid_not_applicable",
                "a derived selective-disclosure proof differs per disclosure: no fixed UID",
            )
        issuer_proofs = [
            proof
            for proof in proofs
            if (key := self.keys.get(str(proof.get("verificationMethod"))))
            and key.controller == self.issuer_id
        ] or (proofs[:1] if not self.issuer_id.startswith("did:") else [])
        if not issuer_proofs:
            raise BadgeChainError("no proof of the issuer carries a UID", code="uid_missing")
        proof_value_bytes(issuer_proofs[0])  # well-formed 64-byte signature
        self.uid = str(issuer_proofs[0]["proofValue"])
        if self.expected_uid is not None and self.expected_uid != self.uid:
            raise BadgeChainError(
                "the badge's proofValue is not the UID asked for", code="uid_mismatch"
            )
        return Check("uid", "passed", "ok", "the UID is the issuer's proofValue")

    # -- the network's view ----------------------------------------------------------------

    @property
    def subject_id(self) -> str | None:
        subject = self.credential.get("credentialSubject")
        subject = subject[0] if isinstance(subject, list) and subject else subject
        value = subject.get("id") if isinstance(subject, dict) else None
        return value if isinstance(value, str) else None

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
            return _finish("vc-jwt", None, [Check("input", "failed", exc.code, exc.message)])
        resolvers = dataclasses.replace(self.resolvers, bns=None, trust=None)
        fmt = "vc-jwt" if item.is_jwt else "json"
        inner = _Verifier(self.now, resolvers, None, fmt, jws, self.depth, self.seen)
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
        if self.chain_walked:
            return Check("chain", "passed", "no_chain", "the subject is not another badge")
        assert subject is not None
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
        inner = _Verifier(self.now, self.resolvers, linked_uid, "json", None, self.depth + 1, seen)
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

    def _check_bns(self) -> Check:
        """The BNS entry of the UID (docs/verification.md, "Credentials off the BNS")."""
        if self.uid is None:
            return Check("bns", "skipped", "bns_not_applicable", "a credential without a UID")
        if self.resolvers.bns is None:
            # Offline: every badge a node publishes also carries a status entry, and an
            # unchecked status entry is blocking, so the revocation fact is not lost here.
            return Check("bns", "skipped", "no_resolver", "the Badge Name Server was not consulted")
        try:
            view = self.resolvers.bns(self.uid)
        except Unreachable as exc:
            if self._depends_on_bns():
                raise
            return Check(
                "bns",
                "skipped",
                "bns_unreachable",
                f"{exc.message:.200}; the issuer is not known to publish to the BNS, "
                "so its status entry decides revocation",
            )
        if view is None:
            if self._issuer_publishes():
                raise BadgeChainError(
                    "the UID has no BNS entry and its issuer publishes to the BNS",
                    code="bns_entry_missing",
                )
            return Check(
                "bns",
                "skipped",
                "issuer_not_on_bns",
                "the issuer has never published to the BNS: verified as any W3C credential",
            )
        if view.issuer_did != self.issuer_id:
            raise BadgeChainError("the BNS entry names another issuer", code="bns_issuer_mismatch")
        # The entry's earner key (when it names one) must be the key the chain leads to: the
        # subject's did:key, or for a urn:bns: subject (a persona's badge, an endorsement)
        # the earner at the root of the verified chain. An Ed25519 did:key has one spelling,
        # so comparing the did:key strings compares the keys.
        if view.earner is not None and self.chain_walked and view.earner != self.chain_earner:
            raise BadgeChainError("the BNS entry names another earner", code="bns_earner_mismatch")
        self.bns_view = view
        if view.earner is not None and not self.chain_walked:
            return Check(
                "bns",
                "passed",
                "earner_unchecked",
                "the BNS entry matches the issuer; its earner needs the chain, not walked",
            )
        return Check("bns", "passed", "ok", "the BNS entry matches issuer and earner")

    @property
    def _signer_did(self) -> str | None:
        """The did:key of the key that made the UID (the issuer's proof)."""
        for proof in proof_list(self.credential):
            key = self.keys.get(str(proof.get("verificationMethod")))
            if key is not None and proof.get("proofValue") == self.uid:
                return did_key_from_public_key(key.public_key)
        return None

    def _issuer_publishes(self) -> bool:
        """Whether the issuer publishes to the BNS; Unreachable when that cannot be learned.
        Without a resolver for the question every issuer is taken to publish (strict)."""
        ask, signer = self.resolvers.bns_publishes, self._signer_did
        if ask is None or signer is None:
            return True
        return ask(signer)

    def _depends_on_bns(self) -> bool:
        """Whether the verdict needs the BNS when the DHT could not be asked: a badge linked
        to another badge, or an issuer known to publish. Otherwise the credential is verified
        as any W3C credential (its status entry, when it has one, is still checked)."""
        subject = self.subject_id or ""
        if subject.startswith(BNS_URN_PREFIX):
            return True
        try:
            return self._issuer_publishes()
        except Unreachable:
            return False

    def _check_revocation(self) -> Check:
        view = getattr(self, "bns_view", None)
        if view is None:
            bns = next((check for check in self.checks if check.name == "bns"), None)
            code = bns.code if bns is not None and bns.status == "skipped" else "no_resolver"
            return Check(
                "revocation", "skipped", code, "BNS revocation not consulted (see the bns check)"
            )
        if view.revoked:
            reason = f": {view.revocation_reason:.200}" if view.revocation_reason else ""
            raise BadgeChainError(f"revoked by its issuer{reason}", code="revoked")
        return Check("revocation", "passed", "ok", "not revoked in the BNS")

    def _check_status(self) -> Check:
        status = self.credential.get("credentialStatus")
        entries = status if isinstance(status, list) else [] if status is None else [status]
        if not entries:
            return Check("status", "passed", "no_status", "the credential has no status entry")
        if len(entries) > MAX_STATUS_ENTRIES:  # each may send the verifier to another server
            raise BadgeChainError(
                f"more than {MAX_STATUS_ENTRIES} credentialStatus entries", code="status_invalid"
            )
        fetch: statuslist.StatusListFetcher | None = self.resolvers.extra.get(
            statuslist.STATUS_LIST_FETCHER
        )
        ask: Callable[[dict[str, Any]], bool | str]
        if fetch is not None:
            ask = lambda entry: self._status_bit(entry, fetch)  # noqa: E731
        elif self.resolvers.status is not None:
            ask = self.resolvers.status
        elif getattr(self, "bns_view", None) is not None:  # BadgeChain writes both in one step
            return Check(
                "status", "passed", "bns_answered", "the status list was not read; the BNS answered"
            )
        else:  # offline: a revoked credential must not come out valid
            return Check(
                "status",
                "skipped",
                "status_unchecked_offline",
                "the credential has a status entry and no fresh signed status list is at hand",
                blocking=True,
            )
        answers = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise BadgeChainError(
                    "a credentialStatus entry is not an object", code="status_invalid"
                )
            answer = ask(entry)
            if answer is True:
                purpose = str(entry.get("statusPurpose", "status"))
                code = purpose if purpose.isidentifier() and len(purpose) <= 40 else "set"
                raise BadgeChainError(f"the status list marks it ({code})", code=f"status_{code}")
            answers.append(answer)
        if "bns_answered" in answers:
            return Check(
                "status",
                "passed",
                "bns_answered",
                "the status list was unreachable; the BNS answered for this badge",
            )
        return Check("status", "passed", "ok", "status list bit clear")

    def _status_bit(
        self, entry: dict[str, Any], fetch: statuslist.StatusListFetcher
    ) -> bool | Literal["bns_answered"]:
        """The entry's bit from its list; "bns_answered" when the list cannot be reached but
        the BNS answered for this UID (BadgeChain writes both in one step, so they agree)."""
        if entry.get("type") != "BitstringStatusListEntry":
            raise Unreachable(
                f"cannot check a status entry of type {entry.get('type')!r:.60}",
                code="status_type_unsupported",
            )
        url = entry.get("statusListCredential")
        try:
            if not isinstance(url, str):
                raise statuslist.StatusListError("the entry names no statusListCredential")
            list_credential = fetch(url)
            if list_credential is None:  # its server answered: the list is gone, not away
                raise statuslist.StatusListError(
                    f"no status list at {url:.100}", code="status_list_not_found"
                )
        except Unreachable:
            if getattr(self, "bns_view", None) is not None:
                return "bns_answered"
            raise
        return statuslist.check_status(
            list_credential,
            entry,
            credential_issuer=self.issuer_id,
            now=self.now,
            verify_list_proof=statuslist.list_proof_verifier(self.resolvers.did_documents),
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
        if self.issuer_id in policy.deny:
            raise BadgeChainError("the issuer is on the deny list", code="issuer_denied")
        if policy.allow and self.issuer_id not in policy.allow:
            raise BadgeChainError("the issuer is not on the allow list", code="issuer_not_trusted")
        return Check("trust", "passed", "ok", "the issuer is trusted")


def _check_bounds(value: object) -> None:
    """Refuse a parsed value larger or deeper than parse_json would read (an estimate of its
    JSON size: string lengths plus a few bytes per item), walked without recursion."""
    size, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH and isinstance(item, dict | list):
            raise InputTooLarge(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
        size += len(item) + 2 if isinstance(item, str) else 4
        if size > MAX_JSON_BYTES:
            raise InputTooLarge(f"the credential is over {MAX_JSON_BYTES} bytes as JSON")
        if isinstance(item, dict):
            stack.extend((key, depth + 1) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


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
