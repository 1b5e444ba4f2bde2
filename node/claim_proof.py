"""The earner's proof in a claim (issue 14 item 7, docs/claims.md "Proving the key").

A claim names the key the issuer hands the badge over to. The code alone proves only that
the claimant read the mail, so the claim is also signed by that key, over the UID, the
issuer's key (so it cannot be spent at another issuer), the claimant's key, the time and
the code. The issuer checks it before it looks at the code or signs the hand-over: nobody
can hand a badge to a key they cannot sign with. Pure: no I/O, no clock (`now` is passed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from badgechain.chain.errors import DecodeError
from badgechain.chain.keys import KeyPair, PublicKey, verify_signature
from badgechain.chain.multibase import multibase_decode, multibase_encode_b58
from badgechain.chain.uid import Uid

from .errors import NodeError

__all__ = [
    "DOMAIN_CLAIM_REQUEST",
    "MAX_CLAIM_SKEW_S",
    "ClaimProof",
    "ClaimProofError",
    "check_claim_proof",
    "claim_signed_bytes",
    "sign_claim",
]

DOMAIN_CLAIM_REQUEST: Final = b"badgechain/claim-request/v1\x00"
# How far the claimant's clock may be from the issuer's: a signed claim is good this long,
# and the code is single use anyway, so a captured one gains nothing more.
MAX_CLAIM_SKEW_S: Final = 300
_MAX_PROOF_CHARS: Final = 100
_MAX_SECONDS: Final = 2**63 - 1


class ClaimProofError(NodeError):
    """A claim whose proof is missing, malformed, stale or not the named key's (422;
    claim_proof_missing 400: node/errors.py)."""

    code = "claim_proof_invalid"


def _error(message: str, code: str) -> ClaimProofError:
    return ClaimProofError(message, code=code)


def normal_code(code: str) -> str:
    """A code as the issuer compares it: no dashes or spaces, upper case."""
    return code.replace("-", "").replace(" ", "").upper()


def claim_signed_bytes(
    uid: Uid, issuer_key: PublicKey, earner_key: PublicKey, created: int, code: str
) -> bytes:
    """The domain tag ‖ UID (64) ‖ issuer key (32) ‖ earner key (32) ‖ created (8, big
    endian, seconds) ‖ the normalised code: fixed widths first, so unambiguous."""
    if not 0 <= created <= _MAX_SECONDS:
        raise _error("created is a time in seconds", "claim_proof_invalid")
    fixed = uid + issuer_key + earner_key + created.to_bytes(8, "big")
    return DOMAIN_CLAIM_REQUEST + fixed + normal_code(code).encode()


@dataclass(frozen=True, slots=True)
class ClaimProof:
    """The claimant's signature over `claim_signed_bytes`, made at `created` (seconds)."""

    created: int
    signature: bytes

    def to_json(self) -> dict[str, object]:
        return {"created": self.created, "proof": multibase_encode_b58(self.signature)}

    @classmethod
    def from_json(cls, created: object, proof: object) -> ClaimProof | None:
        """The proof of a claim body's `created` and `proof`; None when both are absent."""
        if created is None and proof is None:
            return None
        if (
            not isinstance(created, int)
            or isinstance(created, bool)
            or not 0 <= created <= _MAX_SECONDS
            or not isinstance(proof, str)
            or len(proof) > _MAX_PROOF_CHARS
        ):
            raise _error(
                "`created` is seconds, `proof` a multibase signature", "claim_proof_invalid"
            )
        try:
            signature = multibase_decode(proof)
        except DecodeError as exc:
            raise _error("`proof` is no multibase signature", "claim_proof_invalid") from exc
        if len(signature) != 64:
            raise _error("`proof` is a 64-byte signature", "claim_proof_invalid")
        return cls(created, signature)


def sign_claim(earner: KeyPair, uid: Uid, issuer_key: PublicKey, code: str, now: int) -> ClaimProof:
    """The earner's side: sign the claim of `uid` at `issuer_key`'s node, at `now`."""
    signed = claim_signed_bytes(uid, issuer_key, earner.public_key, now, code)
    return ClaimProof(now, earner.sign(signed))


def check_claim_proof(
    proof: ClaimProof | None,
    uid: Uid,
    issuer_key: PublicKey,
    earner_key: PublicKey,
    code: str,
    now: float,
) -> None:
    """The issuer's side: raise `claim_proof_missing` (400), `claim_proof_stale` or
    `claim_proof_invalid` (422) unless `earner_key` signed this claim within the skew."""
    if proof is None:
        raise _error(
            "a claim is signed by the key it names (`created`, `proof`)", "claim_proof_missing"
        )
    if abs(now - proof.created) > MAX_CLAIM_SKEW_S:
        raise _error(
            f"the claim was signed more than {MAX_CLAIM_SKEW_S} s from this node's time",
            "claim_proof_stale",
        )
    signed = claim_signed_bytes(uid, issuer_key, earner_key, proof.created, code)
    if not verify_signature(earner_key, signed, proof.signature):
        raise _error("the claim is not signed by the key it names", "claim_proof_invalid")
