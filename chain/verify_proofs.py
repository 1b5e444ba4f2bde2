"""The key and proof checks of a verification run: issuer_key, proof and uid
(Data Integrity proofs, ecdsa-sd-2023 derived proofs and VC-JWTs)."""

from __future__ import annotations

from typing import Any

from . import ecdsa_sd, jose, jwtkey
from .errors import BadgeChainError
from .proof import ProofCheck, proof_list, proof_suite, proof_value_bytes, verify_proof
from .report import Check
from .resolve import Unreachable, resolve_verification_method
from .verify_state import VerifierState

__all__ = ["ProofChecks"]


class ProofChecks(VerifierState):
    """issuer_key → proof → uid."""

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
