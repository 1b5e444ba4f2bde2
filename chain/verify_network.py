"""The network's view in a verification run: the BNS entry, revocation and status list
checks (docs/verification.md, "Credentials off the BNS")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from . import statuslist
from .badge import BNS_URN_PREFIX
from .errors import BadgeChainError
from .keys import did_key_from_public_key
from .proof import proof_list
from .report import Check
from .resolve import Unreachable
from .verify_state import VerifierState

__all__ = ["MAX_STATUS_ENTRIES", "NetworkChecks"]

MAX_STATUS_ENTRIES = 8  # credentialStatus entries read per credential


class NetworkChecks(VerifierState):
    """bns → revocation → status."""

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
        view = getattr(self, "bns_view", None)
        if view is not None and view.revoked:  # the list read predates the BNS revocation
            return Check(
                "status",
                "skipped",
                "status_list_older_than_revocation",
                "the status list read is older than the BNS revocation (its bit is still clear)",
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
