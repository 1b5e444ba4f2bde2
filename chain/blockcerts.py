"""Blockcerts certificates (v1.2, v2 = OB 2.0 + MerkleProof2017, v3 = VC + MerkleProof2019):
structure, dates, the document's hash against its Merkle receipt, and status.

The anchor is not looked up: a `mocknet` receipt has no transaction to find, and a receipt on
a public blockchain leaves the proof check skipped and blocking (no blockchain is consulted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import statuslist
from .badge import issuer_id
from .errors import BadgeChainError
from .jsonio import parse_json
from .jsonld import canonize
from .merkle import MerkleReceipt, decode_merkle_proof_2019, read_merkle_proof_2017, root_from_path
from .proof import proof_list
from .report import CLOCK_SKEW, Check, Report, finish_report
from .resolve import Resolvers, Unreachable
from .structure import VC2_CONTEXT, check_vc_data_model, parse_date_time

__all__ = ["blockcerts_version", "is_merkle_proof", "verify_blockcerts"]

MAX_LIST_BYTES = 1024 * 1024
STATUS_ENTRY_TYPES = ("StatusList2021Entry", "BitstringStatusListEntry")


def is_merkle_proof(proof: object) -> bool:
    """A Blockcerts receipt, alone or chained after a signature (ChainedProof2021)."""
    if not isinstance(proof, dict):
        return False
    kind = proof.get("type")
    return (
        kind == "MerkleProof2019"
        or (kind == "DataIntegrityProof" and proof.get("cryptosuite") == "merkle-proof-2019")
        or (kind == "ChainedProof2021" and proof.get("chainedProofType") == "MerkleProof2019")
    )


def blockcerts_version(document: object) -> str | None:
    """ "v3", "v2" or "v1.2" when the document is a Blockcerts certificate, else None."""
    if not isinstance(document, dict):
        return None
    proofs = document.get("proof")
    # Read leniently: a malformed proof is not a Blockcerts one, and the OB 3.0 path reports it.
    if any(
        isinstance(proof, dict) and is_merkle_proof(proof)
        for proof in (proofs if isinstance(proofs, list) else [proofs])
    ):
        return "v3"
    signature = document.get("signature")
    kinds = signature.get("type") if isinstance(signature, dict) else None
    if (isinstance(kinds, list) and "MerkleProof2017" in kinds) or kinds == "MerkleProof2017":
        return "v2"
    if isinstance(document.get("receipt"), dict) and isinstance(document.get("document"), dict):
        return "v1.2"
    return None


class _NotServed(BadgeChainError):
    """The issuer's server answered that a document is not there."""


@dataclass(frozen=True, slots=True)
class _Certificate:
    version: str
    document: dict[str, Any]  # what is hashed (v1.2: the inner `document`), proof excluded
    receipt: MerkleReceipt
    other_proofs: int  # signatures beside the receipt (a ChainedProof2021 set) left unchecked


def verify_blockcerts(document: dict[str, Any], *, now: datetime, resolvers: Resolvers) -> Report:
    """Verify a Blockcerts certificate; total, like `verify.verify_credential`."""
    version = blockcerts_version(document) or "unknown"
    run = _Run(document, version, now.astimezone(UTC), resolvers)
    return run.report()


class _Run:
    def __init__(
        self, document: dict[str, Any], version: str, now: datetime, resolvers: Resolvers
    ) -> None:
        self.document, self.version, self.now, self.resolvers = document, version, now, resolvers
        self.fmt = f"blockcerts-{version}"

    def report(self) -> Report:
        checks = [
            Check("input", "passed", "ok", f"read as a Blockcerts {self.version} certificate")
        ]
        steps: list[tuple[str, Callable[[], Check]]] = [
            ("vc_model", self._vc_model),
            ("ob_structure", self._structure),
            ("proof", self._proof),
            ("issuer_key", self._issuer_key),
            ("uid", lambda: _skip("uid", "uid_not_applicable", "no BadgeChain UID")),
            ("chain", lambda: Check("chain", "passed", "no_chain", "no linked badge")),
            ("bns", lambda: _skip("bns", "bns_not_applicable", "a Blockcerts certificate")),
            ("revocation", self._revocation),
            ("status", self._status),
            ("validity", self._validity),
            ("trust", self._trust),
        ]
        for name, step in steps:
            try:
                checks.append(step())
            except Unreachable as exc:
                checks.append(Check(name, "skipped", exc.code, exc.message, blocking=True))
            except _NotServed as exc:
                checks.append(Check(name, "skipped", exc.code, exc.message))
            except BadgeChainError as exc:
                checks.append(Check(name, "failed", exc.code, exc.message))
            if name == "proof" and checks[-1].status == "failed":
                break  # a certificate whose hash is not the anchored one says nothing
        return finish_report(self.fmt, None, checks, self.document)

    # -- structure -------------------------------------------------------------------------

    def _vc_model(self) -> Check:
        if self.version != "v3":
            return _skip("vc_model", "not_a_vc", f"Blockcerts {self.version} predates VCs")
        problems = check_vc_data_model(self.document)
        if problems:
            first = problems[0]
            return Check("vc_model", "failed", first.code, f"{first.path}: {first.message}")
        return Check("vc_model", "passed", "ok", "VC data model structure is sound")

    def _structure(self) -> Check:
        required = {
            "v3": ("issuer", "credentialSubject"),
            "v2": ("id", "recipient", "badge", "issuedOn", "verification"),
            "v1.2": ("document", "receipt"),
        }.get(self.version, ())
        missing = [name for name in required if name not in self.document]
        if missing:
            raise BadgeChainError(
                f"a Blockcerts {self.version} certificate needs {missing[0]}",
                code="blockcerts_structure_invalid",
            )
        return Check("ob_structure", "passed", "ok", f"Blockcerts {self.version} structure")

    # -- the receipt -------------------------------------------------------------------------

    def _certificate(self) -> _Certificate:
        if self.version == "v1.2":
            return _Certificate(
                "v1.2",
                self.document["document"],
                read_merkle_proof_2017(self.document["receipt"]),
                0,
            )
        if self.version == "v2":
            unsigned = {key: value for key, value in self.document.items() if key != "signature"}
            return _Certificate(
                "v2", unsigned, read_merkle_proof_2017(self.document["signature"]), 0
            )
        proofs = proof_list(self.document)
        receipts = [proof for proof in proofs if is_merkle_proof(proof)]
        if len(receipts) != 1:
            raise BadgeChainError(
                "a certificate must carry exactly one Merkle proof", code="blockcerts_proof_invalid"
            )
        unsecured = {key: value for key, value in self.document.items() if key != "proof"}
        previous = receipts[0].get("previousProof")
        if receipts[0].get("type") == "ChainedProof2021":
            # The receipt anchors the document with the signature it chains after.
            if not isinstance(previous, dict):
                raise BadgeChainError(
                    "ChainedProof2021 needs its previousProof", code="blockcerts_proof_invalid"
                )
            unsecured["proof"] = previous
        receipt = decode_merkle_proof_2019(receipts[0].get("proofValue"))
        return _Certificate("v3", unsecured, receipt, len(proofs) - 1)

    def _proof(self) -> Check:
        certificate = self._certificate()
        if certificate.version == "v1.2":
            # Its context is JSON-LD 1.0 that a 1.1 processor refuses (a term used as an IRI).
            raise Unreachable(
                "the Blockcerts v1.2 document hash cannot be computed (JSON-LD 1.0 context)",
                code="blockcerts_v1_hash_unsupported",
            )
        receipt = certificate.receipt
        _check_hash(certificate.document, receipt)
        if root_from_path(receipt.target_hash, receipt.path) != receipt.merkle_root:
            raise BadgeChainError(
                "the Merkle path does not lead to the receipt's root",
                code="blockcerts_merkle_root_mismatch",
            )
        public = [anchor for anchor in receipt.anchors if not anchor.is_mock]
        if public:
            raise Unreachable(
                "the document hash and Merkle path match the receipt; the anchor "
                f"({public[0].describe()}) was not checked: the blockchain was not consulted",
                code="anchor_unverifiable",
            )
        if certificate.other_proofs:
            raise Unreachable(
                "the Merkle receipt matches; the signature it chains after was not verified "
                "(EcdsaSecp256k1Signature2019 with a key in the remote issuer profile)",
                code="proof_unverifiable",
            )
        return Check(
            "proof",
            "passed",
            "mocknet",
            "the document hash and Merkle path match the receipt; its anchor is 'mocknet' "
            "(a test anchor: no blockchain holds it)",
        )

    def _issuer_key(self) -> Check:
        # Blockcerts binds the issuer through the anchoring transaction's sender, listed in the
        # issuer profile: with no transaction looked up, the binding is not confirmed.
        return _skip(
            "issuer_key",
            "issuer_key_unconfirmed",
            "the issuer is bound by the anchoring transaction, which was not looked up",
        )

    # -- status and dates --------------------------------------------------------------------

    def _revocation(self) -> Check:
        """The issuer's revocation list (v2, and v3 without credentialStatus), named by the
        embedded issuer or by the issuer profile at the issuer's URL."""
        if self.document.get("credentialStatus") is not None:
            return _skip("revocation", "status_entry", "its credentialStatus entry decides")
        if self.resolvers.documents is None:
            return _skip("revocation", "no_resolver", "the issuer's revocation list not consulted")
        url = self._revocation_list_url()
        if url is None:
            return _skip("revocation", "no_revocation_list", "the issuer names no revocation list")
        listing = self._fetch_json(url, what="revocation list", missing="revocation_list_not_found")
        revoked = listing.get("revokedAssertions", [])
        revoked = revoked[:100_000] if isinstance(revoked, list) else []
        ids = {item.get("id") if isinstance(item, dict) else item for item in revoked}
        if self.document.get("id") in ids:
            raise BadgeChainError("the issuer's revocation list names it", code="revoked")
        return Check("revocation", "passed", "ok", "not on the issuer's revocation list")

    def _revocation_list_url(self) -> str | None:
        badge = self.document.get("badge")
        embedded = badge.get("issuer") if isinstance(badge, dict) else self.document.get("issuer")
        named = embedded.get("revocationList") if isinstance(embedded, dict) else None
        if isinstance(named, str):
            return named
        issuer = _issuer(self.document)
        if not issuer.startswith("https://"):
            return None  # a DID issuer: its revocation is in credentialStatus
        profile = self._fetch_json(
            issuer, what="issuer profile", missing="issuer_profile_not_found"
        )
        if profile.get("id") != issuer:
            raise BadgeChainError(
                "the issuer profile does not name itself by the issuer's URL",
                code="issuer_profile_mismatch",
            )
        named = profile.get("revocationList")
        return named if isinstance(named, str) else None

    def _status(self) -> Check:
        status = self.document.get("credentialStatus")
        entries = status if isinstance(status, list) else [] if status is None else [status]
        if not entries:
            return Check("status", "passed", "no_status", "the credential has no status entry")
        if len(entries) > 8 or not all(isinstance(entry, dict) for entry in entries):
            raise BadgeChainError("malformed credentialStatus", code="status_invalid")
        for entry in entries:  # a set bit decides, whichever entry it is in
            self._status_entry(entry)
        # A clear bit is read from a list whose signature is not checked here
        # (EcdsaSecp256k1Signature2019 by a key the certificate does not bind): not an answer.
        raise Unreachable(
            "the status bits are clear, but the lists' signatures were not verified",
            code="status_list_unverified",
        )

    def _status_entry(self, entry: dict[str, Any]) -> None:
        if entry.get("type") not in STATUS_ENTRY_TYPES:
            raise Unreachable(
                f"cannot check a status entry of type {entry.get('type')!r:.60}",
                code="status_type_unsupported",
            )
        url = entry.get("statusListCredential")
        if not isinstance(url, str):
            raise BadgeChainError("the entry names no list", code="status_invalid")
        try:
            listing = self._fetch_json(url, what="status list", missing="status_list_not_found")
        except _NotServed as exc:  # a status entry promises its list: a 404 is a failure
            raise BadgeChainError(exc.message, code=exc.code) from exc
        if listing.get("id") != url:
            raise BadgeChainError(
                "the status list does not name itself by its URL", code="status_list_url_mismatch"
            )
        subject = listing.get("credentialSubject")
        subject = subject if isinstance(subject, dict) else {}
        purpose = entry.get("statusPurpose")
        if "statusPurpose" in subject and subject["statusPurpose"] != purpose:
            raise BadgeChainError(
                "the list's purpose is not the entry's", code="status_list_purpose_mismatch"
            )
        encoded = subject.get("encodedList")
        if isinstance(encoded, str) and not encoded.startswith("u"):
            encoded = "u" + encoded  # StatusList2021: base64url without the multibase prefix
        bits = statuslist.decode_bits(encoded)
        if statuslist.get_bit(bits, statuslist.entry_index(entry)):
            code = purpose if isinstance(purpose, str) and purpose.isidentifier() else "set"
            raise BadgeChainError(
                f"the status list marks it ({code:.40})", code=f"status_{code:.40}"
            )

    def _fetch_json(self, url: str, *, what: str, missing: str) -> dict[str, Any]:
        """A JSON object from the issuer's server. Nothing there (404) is an answer, but not
        the one the check needs: skipped, not blocking, with `missing` as its code."""
        fetch = self.resolvers.documents
        if fetch is None:
            raise Unreachable(f"offline: the {what} was not fetched", code="no_resolver")
        fetched = fetch(url)
        if fetched is None:
            raise _NotServed(f"nothing is served at the {what} URL {url:.100}", code=missing)
        if len(fetched.body) > MAX_LIST_BYTES:
            raise BadgeChainError(f"the {what} is too large", code="status_list_too_large")
        document = parse_json(fetched.body)
        if not isinstance(document, dict):
            raise BadgeChainError(f"the {what} is not an object", code="status_list_invalid")
        return document

    def _validity(self) -> Check:
        vc2 = _contexts(self.document)[:1] == [VC2_CONTEXT]
        names = ("validFrom", "validUntil", "issuanceDate", "expirationDate", "expires", "issuedOn")
        moments = {name: self._date(self.document, name, vc2) for name in names}
        for proof in proof_list(self.document) if self.version == "v3" else []:
            self._date(proof, "created", vc2)  # VC 2.0 dates carry a zone (dateTimeStamp)
        start = moments["validFrom"] or moments["issuanceDate"] or moments["issuedOn"]
        end = moments["validUntil"] or moments["expirationDate"] or moments["expires"]
        if start is not None and start > self.now + CLOCK_SKEW:
            raise BadgeChainError(f"not valid before {start.isoformat()}", code="not_yet_valid")
        if end is not None and end <= self.now:
            raise BadgeChainError(f"expired at {end.isoformat()}", code="expired")
        return Check("validity", "passed", "ok", "within its validity window")

    def _date(self, holder: dict[str, Any], name: str, zone_required: bool) -> datetime | None:
        value = holder.get(name)
        if value is None:
            return None
        if name == "issuedOn" and isinstance(value, str) and len(value) == 10:
            value += "T00:00:00Z"  # OB 2.0 issuers write a plain date too
        instant = (
            parse_date_time(value, zone_required=zone_required) if isinstance(value, str) else None
        )
        if instant is None:
            raise BadgeChainError(f"{name} is not an XML Schema dateTime", code="date_invalid")
        return datetime.fromtimestamp(instant[0], UTC)

    def _trust(self) -> Check:
        policy = self.resolvers.trust
        if policy is None:
            return _skip("trust", "no_policy", "no local trust registry")
        return policy.check(_issuer(self.document))


def _check_hash(document: dict[str, Any], receipt: MerkleReceipt) -> None:
    """SHA-256 of the canonical N-Quads must be the receipt's target; then nothing may be left
    out of them (an undefined term or relative IRI would be unhashed, so changeable)."""
    digest = hashlib.sha256(canonize(document, safe=False).encode("utf-8")).digest()
    if digest != receipt.target_hash:
        raise BadgeChainError(
            "the document's hash is not the anchored one: it was changed after issuing",
            code="blockcerts_hash_mismatch",
        )
    canonize(document, safe=True)


def _contexts(document: dict[str, Any]) -> list[Any]:
    context = document.get("@context")
    return context if isinstance(context, list) else [context]


def _issuer(document: dict[str, Any]) -> str:
    if "issuer" in document:
        return issuer_id(document)
    badge = document.get("badge")
    issuer = badge.get("issuer") if isinstance(badge, dict) else None
    value = issuer.get("id") if isinstance(issuer, dict) else issuer
    return value if isinstance(value, str) else ""


def _skip(name: str, code: str, message: str) -> Check:
    return Check(name, "skipped", code, message)
