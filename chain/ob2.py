"""Verification of Open Badges 2.0 badges (and 1.x, with a warning; 0.5 is indeterminate).

Reported with the OB 3.0 check names (chain.verify):
  input        the bytes were read (JSON, signed JWS, baked image, or a baked hosted URL)
  vc_model     the OB 2.0 structure of the document: @context, types, recipient, dates, image
  ob_structure its BadgeClass and Issuer, embedded or fetched, and their types
  issuer_key   hosted: the assertion's URL is in the issuer's verification scope;
               signed: the `verification.creator` key is owned by the issuer
  proof        hosted: the assertion fetched at its URL is the one given; signed: RS256
  uid          the recipient, when the verifier names one (else not applicable)
  chain        endorsements of the assertion, badge class and issuer, each verified
  bns          not applicable: OB 2.0 badges are not named in the BNS
  revocation   the issuer's revocationList (and a hosted assertion's `revoked`)
  status       no status entry in OB 2.0
  validity     issuedOn / expires
  trust        the local trust policy on the issuer
Every document comes through `resolvers.documents` (chain.ob2_fetch); offline, the checks
needing one are skipped and blocking, so the verdict is indeterminate. A warning is a passed
check whose code is in WARNING_CODES.

Who the issuer is: the URL its profile was fetched from (its declared id when embedded). A
profile that declares another id is read with a warning, but never lends that id its trust.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import jose
from .errors import BadgeChainError
from .jsonio import parse_json
from .ob2_checks import (
    check_date_order,
    check_types,
    hosted_in_scope,
    is_url,
    ob_version,
    recipient_matches,
    revoked_entry,
    types_of,
    verify_jws_with_pem,
)
from .ob2_fetch import MAX_DOCUMENT_BYTES, Documents
from .ob2_links import key_for, verify_endorsement, verify_endorsements
from .ob2_shape import (
    assertion_dates,
    assertion_shape,
    badge_class_shape,
    hosted_url,
    issuer_shape,
    node_kind,
    verification_of,
)
from .report import CHECK_NAMES, CLOCK_SKEW, Check, Report, finish_report
from .resolve import Resolvers, Unreachable

__all__ = ["WARNING_CODES", "verify_ob2"]

logger = logging.getLogger(__name__)
WARNING_CODES = frozenset(
    {"ob1_legacy", "issuer_not_http", "issuer_id_missing", "id_mismatch", "extension_not_validated"}
)


def verify_ob2(
    fmt: str,
    given: object,
    jws: jose.Jws | None,
    *,
    now: datetime,
    resolvers: Resolvers,
    recipient: str | None = None,
) -> Report:
    """Verify an OB 2.0-family badge: a parsed JSON object, a baked payload (JSON text, a
    compact JWS or a hosted URL), or a parsed signed assertion (`jws`)."""
    return _Run(fmt, now.astimezone(UTC), resolvers, recipient).run(given, jws)


class _Run:
    """One verification; each `_check_*` method returns the Check it names."""

    def __init__(
        self, fmt: str, now: datetime, resolvers: Resolvers, recipient: str | None
    ) -> None:
        self.fmt, self.now, self.resolvers, self.recipient = fmt, now, resolvers, recipient
        self.warnings: dict[str, tuple[str, str]] = {}
        self.docs = Documents(resolvers.documents, self.now, self._warn)
        self.node: dict[str, Any] = {}
        self.jws: jose.Jws | None = None
        self.version = "2.0"
        self.kind = "other"

    def run(self, given: object, jws: jose.Jws | None) -> Report:
        checks = [Check("input", "passed", "ok", f"read as {self.fmt}")]
        pointer = isinstance(given, str) and is_url(given.strip())
        try:
            self._load(given, jws)
            self.version = ob_version(self.node)
        except Unreachable as exc:
            checks.append(Check("vc_model", "skipped", exc.code, exc.message, blocking=True))
            return finish_report(self.fmt, None, checks)
        except Exception as exc:  # a bug must not turn hostile input into a crash
            if not isinstance(exc, BadgeChainError):
                logger.exception("reading an OB 2.0 badge failed unexpectedly")
                exc = BadgeChainError("internal verifier error", code="internal_error")
            # A baked URL that leads nowhere fails the proof; unreadable bytes fail the input.
            name = "proof" if pointer else "vc_model" if self.node else "input"
            checks = [check for check in checks if check.name != name]
            checks.append(Check(name, "failed", exc.code, exc.message))
            return finish_report(self.fmt, None, checks)
        if self.version == "0.5":
            checks.append(self._ob05())
            return finish_report(self.fmt, None, checks, self.node)
        self.kind = node_kind(self.node, self.version)
        for step in self._steps():
            checks.append(self._run_step(step))
            if checks[-1].status == "failed":
                break  # what follows rests on what failed
        return finish_report(self.fmt, None, checks, self.node)

    def _load(self, given: object, jws: jose.Jws | None) -> None:
        text = given.strip() if isinstance(given, str) else None
        if jws is not None:
            self.jws, node = jws, jws.payload
        elif isinstance(given, dict):
            node = given
        elif text is not None and text.startswith("{"):
            node = parse_json(text, max_bytes=MAX_DOCUMENT_BYTES)
        elif text is not None and is_url(text):  # a baked hosted URL (OB 1.0, Mozilla era)
            node = self.docs.fetch_json(text, "hosted assertion")
        elif text is not None:
            self.jws = jose.parse_compact_jws(text)
            node = self.jws.payload
        else:
            node = None
        if not isinstance(node, dict):
            raise BadgeChainError("the badge is not a JSON object", code="not_an_object")
        self.node = node

    def _steps(self) -> list[Callable[[], Check]]:
        if self.kind == "endorsement":  # an OB 2.0 Endorsement is verified as one
            return [self._check_vc_model, self._check_proof, self._check_trust]
        if self.kind != "assertion":  # a BadgeClass, Issuer or other node: a document only
            return [
                self._check_vc_model,
                self._check_ob_structure,
                self._check_chain,
                self._check_trust,
            ]
        return [getattr(self, f"_check_{name}") for name in CHECK_NAMES[1:]]

    def _run_step(self, step: Callable[[], Check]) -> Check:
        name = step.__name__.removeprefix("_check_")
        try:
            return step()
        except Unreachable as exc:
            return Check(name, "skipped", exc.code, exc.message, blocking=True)
        except BadgeChainError as exc:
            return Check(name, "failed", exc.code, exc.message)
        except Exception:  # a bug must not turn hostile input into a crash of the caller
            logger.exception("OB 2.0 verification step %s failed unexpectedly", name)
            return Check(name, "failed", "internal_error", "internal verifier error")

    def _warn(self, name: str, code: str, message: str) -> None:
        self.warnings.setdefault(name, (code, message))

    def _passed(self, name: str, message: str) -> Check:
        if name in self.warnings:
            code, why = self.warnings[name]
            return Check(name, "passed", code, f"{message}; warning: {why}")
        return Check(name, "passed", "ok", message)

    # -- what the badge links to (fetched once each) ------------------------------------

    def _badge(self) -> dict[str, Any]:
        if self.kind == "badge_class":
            return self.node
        return self.docs.node_at(self.node.get("badge"), "badge class", "ob_structure")

    def _issuer_ref(self) -> object:
        if self.kind == "issuer":
            return self.node
        return (
            self.node.get("issuer") if self.kind == "endorsement" else self._badge().get("issuer")
        )

    def _issuer(self) -> dict[str, Any]:
        if self.kind == "issuer":
            return self.node
        return self.docs.node_at(self._issuer_ref(), "issuer", "ob_structure")

    def _issuer_url(self) -> object:
        """Who the issuer is: the URL its profile was fetched at, else its id (OB 1.0: url)."""
        ref = self._issuer_ref()
        if isinstance(ref, str):
            return ref
        issuer = self._issuer()
        legacy = self.version == "1.0" and "id" not in issuer
        return issuer.get("url") if legacy else issuer.get("id")

    def _strict(self, node: dict[str, Any]) -> bool:
        """OB 2.0 and 1.1 nodes carry types; OB 1.0 documents (no @context) do not."""
        return "@context" in node or self.version != "1.0"

    # -- structure ---------------------------------------------------------------------

    def _ob05(self) -> Check:
        badge = self.node.get("badge")
        if not isinstance(badge, dict) or not isinstance(badge.get("issuer"), dict):
            message = "an OB 0.5 badge must embed its badge and issuer"
            return Check("vc_model", "failed", "ob2_structure_invalid", message)
        message = (
            "an Open Badges 0.5 assertion: it predates hosted and signed verification, "
            "so nothing in it can be verified; BadgeChain verifies OB 1.0 and later"
        )
        return Check("vc_model", "skipped", "ob05_not_supported", message, blocking=True)

    def _check_vc_model(self) -> Check:
        node = self.node
        if self._strict(node):
            check_types(node, node, "document")
        if self.kind == "assertion":
            unchecked = assertion_shape(node, self.version)
            if unchecked:
                self._warn("vc_model", unchecked, "an extension was present but not validated")
        elif self.kind == "badge_class":
            badge_class_shape(node, strict=self._strict(node), context_of=node)
        elif self.kind == "issuer":
            issuer_shape(node, strict=self._strict(node), context_of=node)
        elif self.version == "1.0":
            raise BadgeChainError(
                "not an Open Badges 1.0 assertion, badge class or issuer",
                code="ob2_structure_invalid",
            )
        if self.version != "2.0":
            retired = f"Open Badges {self.version}, verified as OB 2.0 is; the format is retired"
            self._warn("vc_model", "ob1_legacy", retired)
        what = f"Open Badges {self.version} {self.kind}"
        if self.kind == "other":
            what += f" ({' '.join(types_of(node)):.60}: a document, not a badge)"
        return self._passed("vc_model", f"{what} structure is sound")

    def _check_ob_structure(self) -> Check:
        if self.kind not in ("assertion", "badge_class"):
            return self._passed("ob_structure", f"a {self.kind} links to no badge class")
        if self.kind == "assertion":
            badge = self._badge()
            badge_class_shape(badge, strict=self._strict(badge), context_of=self.node)
        issuer = self._issuer()
        issuer_shape(issuer, strict=self._strict(issuer), context_of=self.node)
        return self._passed("ob_structure", "its badge class and issuer are sound")

    # -- keys, proofs, recipient -------------------------------------------------------

    def _check_issuer_key(self) -> Check:
        kind, _ = verification_of(self.node)
        if kind == "signed":
            self._signing_key()
            return self._passed("issuer_key", "the signing key is the issuer's")
        url = hosted_url(self.node, self.version)
        self._in_scope(url)
        return self._passed("issuer_key", f"{url:.80} is where the issuer hosts its assertions")

    def _in_scope(self, url: str) -> None:
        issuer = self._issuer()
        anchor = issuer.get("url") if self.version == "1.0" else self._issuer_url()
        outcome = hosted_in_scope(url, issuer, anchor)
        if outcome != "ok":
            self._warn("issuer_key", outcome, "the issuer has no HTTP URL to bound where it hosts")

    def _signing_key(self) -> dict[str, Any]:
        _, verification = verification_of(self.node)
        return key_for(self.docs, verification, self._issuer(), self._issuer_url())

    def _check_proof(self) -> Check:
        if self.kind == "endorsement":
            verify_endorsement(self.docs, self.node, self.jws)
            return self._passed("proof", "the endorsement, its issuer and its proof are sound")
        kind, _ = verification_of(self.node)
        if kind == "signed":
            if self.jws is None:
                raise BadgeChainError(
                    "a signed assertion must be given as its JWS", code="signature_missing"
                )
            verify_jws_with_pem(self.jws, self._signing_key().get("publicKeyPem"))
            return self._passed("proof", "RS256 signature verified with the issuer's key")
        if self.jws is not None:
            raise BadgeChainError(
                "a hosted assertion came signed", code="verification_type_mismatch"
            )
        url = hosted_url(self.node, self.version)
        hosted = self.docs.fetch_json(url, "hosted assertion")
        if hosted.get("revoked") is True:  # OB 2.0: an issuer revokes a hosted badge in place
            reason = hosted.get("revocationReason")
            raise BadgeChainError(f"revoked by its issuer: {reason!s:.200}", code="revoked")
        if hosted != self.node:
            raise BadgeChainError(
                f"the assertion hosted at {url:.80} is not the one given", code="hosted_mismatch"
            )
        final_url = self.docs.fetch(url, "hosted assertion").final_url
        if final_url != url:  # redirected: where it came from must be the issuer's too
            self._in_scope(final_url)
            self._warn("proof", "id_mismatch", f"{url:.80} redirected to {final_url:.80}")
        return self._passed("proof", f"the assertion hosted at {url:.80} is the one given")

    def _check_uid(self) -> Check:
        if self.recipient is None:
            return Check(
                "uid",
                "skipped",
                "uid_not_applicable",
                "an OB 2.0 badge has no UID; no recipient was named",
            )
        if not recipient_matches(self.node["recipient"], self.recipient):
            raise BadgeChainError(
                "the badge was not awarded to the recipient named", code="recipient_mismatch"
            )
        return self._passed("uid", f"awarded to {self.recipient:.80}")

    def _check_chain(self) -> Check:
        holders = [self.node]
        if self.kind == "assertion":
            holders.append(self._badge())
        if self.kind in ("assertion", "badge_class"):
            holders.append(self._issuer())
        count = verify_endorsements(self.docs, holders)
        if not count:
            return Check("chain", "passed", "no_endorsements", "no endorsements")
        return self._passed("chain", f"{count} endorsement(s) verified")

    # -- the issuer's word ---------------------------------------------------------------

    def _check_bns(self) -> Check:
        return Check(
            "bns", "skipped", "bns_not_applicable", "an OB 2.0 badge is not named in the BNS"
        )

    def _check_revocation(self) -> Check:
        if self.node.get("revoked") is True:
            reason = self.node.get("revocationReason")
            raise BadgeChainError(f"revoked by its issuer: {reason!s:.200}", code="revoked")
        reference = self._issuer().get("revocationList")
        if reference is None:
            return Check(
                "revocation",
                "passed",
                "no_revocation_list",
                "the issuer publishes no revocation list",
            )
        listing = self.docs.node_at(reference, "revocation list", "revocation")
        if "type" in listing and "RevocationList" not in types_of(listing):
            raise BadgeChainError(
                "the revocation list is not a RevocationList", code="revocation_list_invalid"
            )
        ids = {value for key in ("id", "uid") if isinstance(value := self.node.get(key), str)}
        entry = revoked_entry(listing, ids)
        if entry is not None:
            reason = entry.get("revocationReason")
            why = f": {reason!s:.200}" if reason else ""
            raise BadgeChainError(f"revoked by its issuer{why}", code="revoked")
        return self._passed("revocation", "not on the issuer's revocation list")

    def _check_status(self) -> Check:
        return Check("status", "passed", "no_status", "OB 2.0 has no status entry (see revocation)")

    def _check_validity(self) -> Check:
        issued, expires = assertion_dates(self.node, self.version)
        check_date_order(issued, expires)
        if issued > self.now + CLOCK_SKEW:
            raise BadgeChainError(
                f"issued in the future ({issued.isoformat()})", code="issued_in_future"
            )
        if expires is not None and expires <= self.now:
            raise BadgeChainError(f"expired at {expires.isoformat()}", code="expired")
        return self._passed("validity", "within its validity window")

    def _check_trust(self) -> Check:
        policy = self.resolvers.trust
        if policy is None:
            return Check("trust", "skipped", "no_policy", "no local trust registry")
        issuer = str(self._issuer_url() if self.kind != "other" else self.node.get("id"))
        check = policy.check(issuer)
        return self._passed("trust", check.message) if check.status == "passed" else check
