"""The one signing step of every badge this project issues: the node's issuing pipeline
(node/pipeline.py) and the offline CLI (`issue --offline`) both call `sign()`.

It secures an unsigned credential with one Data Integrity proof and keeps what signing
computed: the UID (the proof's signature) and the signing input, which the BNS entry
repeats, so that publishing canonicalises nothing again. It lives in chain/ (pure, no
node) so that the offline CLI signs exactly as a node does without starting one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .keys import KeyPair
from .multibase import multibase_encode_b58
from .proof import JCS, RDFC, format_created, signing_input
from .uid import Uid

__all__ = ["Signed", "sign"]


@dataclass(frozen=True, slots=True)
class Signed:
    """A credential signed by `sign()`, with what signing computed: its UID (the proof's
    signature) and the signing input the BNS entry repeats."""

    credential: dict[str, Any]
    uid: Uid
    signing_input: bytes


def sign(
    unsigned: dict[str, Any],
    key: KeyPair,
    now: datetime,
    suite: str = RDFC,
    method: str | None = None,  # the verification method; None: the key's did:key
) -> Signed:
    """`unsigned` secured with one Data Integrity proof by `key` (vc-di-eddsa, "Add Proof"):
    eddsa-rdfc-2022, or eddsa-jcs-2022 whose proof carries the document's @context."""
    proof: dict[str, Any] = {
        "type": "DataIntegrityProof",
        "cryptosuite": suite,
        "created": format_created(now),
        "verificationMethod": method or key.verification_method,
        "proofPurpose": "assertionMethod",
    }
    if suite == JCS:
        proof["@context"] = unsigned["@context"]
    message = signing_input(unsigned, proof)
    signature = key.sign(message)
    # A new top level only: the signed credential shares its values with `unsigned`, which
    # the callers build fresh for it and never change afterwards.
    credential = unsigned | {"proof": proof | {"proofValue": multibase_encode_b58(signature)}}
    return Signed(credential, Uid(signature), message)
