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
Every document comes through `resolvers.documents`; offline, the checks needing one are
skipped and blocking, so the verdict is indeterminate. A warning is a passed check whose
code is in WARNING_CODES.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import jose
from .errors import BadgeChainError, InputTooLarge
from .jsonio import parse_json
from .ob2_checks import (
    check_date_order,
    check_extensions,
    check_recipient_shape,
    check_types,
    hosted_in_scope,
    ob_version,
    parse_ob_date,
    recipient_matches,
    revoked_entry,
    types_of,
    verify_jws_with_pem,
)
from .ob2_links import key_for, verification_kind, verify_endorsement
from .resolve import Fetched, Resolvers, Unreachable
from .verify import CLOCK_SKEW, Check, Report, _finish

__all__ = ["WARNING_CODES", "verify_ob2"]

logger = logging.getLogger(__name__)
MAX_DOCUMENTS = 24  # fetched per verification: assertion, class, issuer, key, list, endorsements
MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_ENDORSEMENTS = 8
WARNING_CODES = frozenset(
    {"ob1_legacy", "issuer_not_http", "issuer_id_missing", "id_mismatch", "extension_not_validated"}
)
_ISSUER_TYPES = {"Issuer", "Profile"}


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


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


class _Run:
    """One verification; each `_check_*` method returns the Check it names."""

    def __init__(
        self, fmt: str, now: datetime, resolvers: Resolvers, recipient: str | None
    ) -> None:
        self.fmt, self.now, self.resolvers, self.recipient = fmt, now, resolvers, recipient
        self.cache: dict[str, Fetched | BadgeChainError] = {}
        self.warnings: dict[str, tuple[str, str]] = {}
        self.node: dict[str, Any] = {}
        self.jws: jose.Jws | None = None
        self.version = "2.0"
        self.kind = "other"

    def run(self, given: object, jws: jose.Jws | None) -> Report:
        checks = [Check("input", "passed", "ok", f"read as {self.fmt}")]
        pointer = isinstance(given, str) and _is_url(given.strip())
        try:
            self._load(given, jws)
            self.version = ob_version(self.node)
        except Unreachable as exc:
            checks.append(Check("vc_model", "skipped", exc.code, exc.message, blocking=True))
            return _finish(self.fmt, None, checks)
        except Exception as exc:  # a bug must not turn hostile input into a crash
            if not isinstance(exc, BadgeChainError):
                logger.exception("reading an OB 2.0 badge failed unexpectedly")
                exc = BadgeChainError("internal verifier error", code="internal_error")
            name = "proof" if pointer else "vc_model" if self.node else "input"
            checks.append(Check(name, "failed", exc.code, exc.message))
            return _finish(self.fmt, None, [c for c in checks if c.name != name or c is checks[-1]])
        if self.version == "0.5":
            checks.append(self._ob05())
            return _finish(self.fmt, None, checks, self.node)
        self.kind = self._kind()
        for step in self._steps():
            checks.append(self._run_step(step))
            if checks[-1].status == "failed":
                break  # what follows rests on what failed
        return _finish(self.fmt, None, checks, self.node)

    def _load(self, given: object, jws: jose.Jws | None) -> None:
        if jws is not None:
            self.jws, node = jws, jws.payload
        elif isinstance(given, dict):
            node = given
        elif isinstance(given, str) and given.strip().startswith("{"):
            node = parse_json(given.strip(), max_bytes=MAX_DOCUMENT_BYTES)
        elif isinstance(given, str) and _is_url(given.strip()):
            node = self.fetch_json(given.strip(), "hosted assertion")
        elif isinstance(given, str):
            self.jws = jose.parse_compact_jws(given)
            node = self.jws.payload
        else:
            node = None
        if not isinstance(node, dict):
            raise BadgeChainError("the badge is not a JSON object", code="not_an_object")
        self.node = node

    def _kind(self) -> str:
        node, types = self.node, types_of(self.node)
        if self.version == "1.0" and "type" not in node:
            if "recipient" in node:
                return "assertion"
            return "badge_class" if "criteria" in node else "issuer" if "url" in node else "other"
        if "Assertion" in types:
            return "assertion"
        return (
            "badge_class"
            if "BadgeClass" in types
            else "issuer"
            if _ISSUER_TYPES & set(types)
            else "other"
        )

    def _steps(self) -> list[Callable[[], Check]]:
        if self.kind == "assertion":
            return [
                self._check_vc_model,
                self._check_ob_structure,
                self._check_issuer_key,
                self._check_proof,
                self._check_uid,
                self._check_chain,
                self._check_bns,
                self._check_revocation,
                self._check_status,
                self._check_validity,
                self._check_trust,
            ]
        # A BadgeClass, an Issuer or another OB node is checked as a document, not a badge.
        return [
            self._check_vc_model,
            self._check_ob_structure,
            self._check_chain,
            self._check_trust,
        ]

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

    # -- documents ---------------------------------------------------------------------

    def _fetch(self, url: str, what: str) -> Fetched:
        if not _is_url(url) or len(url) > 2048:
            raise BadgeChainError(f"the {what} is not at an HTTP URL", code="ob2_url_invalid")
        cached = self.cache.get(url)
        if isinstance(cached, BadgeChainError):
            raise cached
        if cached is not None:
            return cached
        try:
            got = self._fetch_uncached(url, what)
        except BadgeChainError as exc:
            self.cache[url] = exc
            raise
        self.cache[url] = got
        return got

    def _fetch_uncached(self, url: str, what: str) -> Fetched:
        if self.resolvers.documents is None:
            raise Unreachable(f"offline: the {what} at {url:.100} was not fetched", code="offline")
        if len(self.cache) >= MAX_DOCUMENTS:
            raise BadgeChainError(
                f"the badge needs more than {MAX_DOCUMENTS} documents",
                code="ob2_too_many_documents",
            )
        got = self.resolvers.documents(url)
        if got is None:
            code = what.replace(" ", "_") + "_not_found"
            raise BadgeChainError(f"no {what} at {url:.100}", code=code)
        if len(got.body) > MAX_DOCUMENT_BYTES:
            raise InputTooLarge(f"the {what} at {url:.100} is over {MAX_DOCUMENT_BYTES} bytes")
        return got

    def fetch_json(self, url: str, what: str) -> dict[str, Any]:
        got = self._fetch(url, what)
        try:
            document = parse_json(got.body, max_bytes=MAX_DOCUMENT_BYTES)
        except (BadgeChainError, ValueError) as exc:
            raise BadgeChainError(
                f"the {what} at {url:.100} is not JSON", code="document_invalid"
            ) from exc
        if not isinstance(document, dict):
            raise BadgeChainError(
                f"the {what} at {url:.100} is not an object", code="document_invalid"
            )
        return document

    def node_at(self, ref: object, what: str, warn_on: str) -> dict[str, Any]:
        """An embedded node, or the node fetched at its URL (a declared id elsewhere warns)."""
        if isinstance(ref, dict):
            return ref
        if not _is_url(ref):
            raise BadgeChainError(
                f"the {what} is neither embedded nor a URL", code="ob2_structure_invalid"
            )
        assert isinstance(ref, str)
        document = self.fetch_json(ref, what)
        declared = document.get("id")
        if declared is not None and declared != ref:
            self._warn(
                warn_on, "id_mismatch", f"the {what} at {ref:.80} declares id {declared!s:.80}"
            )
        return document

    def _badge(self) -> dict[str, Any]:
        if self.kind == "badge_class":
            return self.node
        return self.node_at(self.node.get("badge"), "badge class", "ob_structure")

    def _issuer_ref(self) -> object:
        return self.node if self.kind == "issuer" else self._badge().get("issuer")

    def _issuer(self) -> dict[str, Any]:
        ref = self._issuer_ref()
        return (
            ref
            if isinstance(ref, dict) and self.kind == "issuer"
            else self.node_at(ref, "issuer", "ob_structure")
        )

    def _issuer_url(self) -> object:
        """Who the issuer is: the URL its profile was fetched at, else its id (OB 1.0: url)."""
        ref = self._issuer_ref()
        if isinstance(ref, str):
            return ref
        issuer = self._issuer()
        return (
            issuer.get("url") if self.version == "1.0" and "id" not in issuer else issuer.get("id")
        )

    # -- structure ---------------------------------------------------------------------

    def _ob05(self) -> Check:
        badge = self.node.get("badge")
        if not isinstance(badge, dict) or not isinstance(badge.get("issuer"), dict):
            return Check(
                "vc_model",
                "failed",
                "ob2_structure_invalid",
                "an OB 0.5 badge must embed its badge and issuer",
            )
        message = (
            "an Open Badges 0.5 assertion: it predates hosted and signed verification, "
            "so nothing in it can be verified; BadgeChain verifies OB 1.0 and later"
        )
        return Check("vc_model", "skipped", "ob05_not_supported", message, blocking=True)

    def _strict(self, node: dict[str, Any]) -> bool:
        return "@context" in node or self.version != "1.0"

    def _check_vc_model(self) -> Check:
        node = self.node
        if self._strict(node):
            check_types(node, node, "document")
        if self.kind == "assertion":
            self._assertion_shape()
        elif self.kind == "badge_class":
            self._badge_class_shape(node)
        elif self.kind == "issuer":
            self._issuer_shape(node)
        elif self.version == "1.0":
            raise BadgeChainError(
                "not an Open Badges 1.0 assertion, badge class or issuer",
                code="ob2_structure_invalid",
            )
        if self.version != "2.0":
            self._warn(
                "vc_model",
                "ob1_legacy",
                f"Open Badges {self.version}, verified as OB 2.0 is; the format is retired",
            )
        return self._passed(
            "vc_model", f"Open Badges {self.version} {self.kind} structure is sound"
        )

    def _assertion_shape(self) -> None:
        node, legacy = self.node, self.version == "1.0"
        if not isinstance(node.get("uid" if legacy else "id"), str):
            raise BadgeChainError(
                f"the assertion has no {'uid' if legacy else 'id'}", code="ob2_structure_invalid"
            )
        check_recipient_shape(node.get("recipient"), legacy=legacy)
        badge = node.get("badge")
        if not (_is_url(badge) or (isinstance(badge, dict) and not legacy)):
            raise BadgeChainError(
                "the assertion names no badge class", code="ob2_structure_invalid"
            )
        self._method()
        self._dates()
        image = node.get("image")
        image = image.get("id") if isinstance(image, dict) else image
        if isinstance(image, str) and image.strip().lower().startswith("data:"):
            raise BadgeChainError(
                "the assertion image is a data: URI; it must be the URL of the baked image",
                code="image_data_uri",
            )
        unchecked = check_extensions(node)
        if unchecked:
            self._warn("vc_model", unchecked, "an extension was present but not validated")

    def _method(self) -> tuple[str, dict[str, Any]]:
        verification = self.node.get("verification", self.node.get("verify"))
        if not isinstance(verification, dict):
            raise BadgeChainError(
                "the assertion names no verification", code="ob2_structure_invalid"
            )
        return verification_kind(verification), verification

    def _hosted_url(self) -> str:
        _, verification = self._method()
        own = self.node.get("id")
        url = own if _is_url(own) and self.version != "1.0" else verification.get("url")
        if not _is_url(url):
            raise BadgeChainError(
                "a hosted assertion must name its HTTP URL", code="hosted_url_missing"
            )
        assert isinstance(url, str)
        return url

    def _dates(self) -> tuple[datetime, datetime | None]:
        legacy = self.version == "1.0"
        if "issuedOn" not in self.node:
            raise BadgeChainError("the assertion has no issuedOn", code="ob2_structure_invalid")
        issued = parse_ob_date(self.node["issuedOn"], "issuedOn", legacy=legacy)
        expires_at = self.node.get("expires")
        expires = (
            None if expires_at is None else parse_ob_date(expires_at, "expires", legacy=legacy)
        )
        return issued, expires

    def _badge_class_shape(self, badge: dict[str, Any]) -> None:
        if self._strict(badge) and "BadgeClass" not in check_types(badge, self.node, "badge class"):
            raise BadgeChainError(
                "the badge is not of type BadgeClass", code="badge_class_type_invalid"
            )
        for name in ("name", "criteria", "issuer"):
            if badge.get(name) in (None, ""):
                raise BadgeChainError(
                    f"the badge class has no {name}", code="ob2_structure_invalid"
                )

    def _issuer_shape(self, issuer: dict[str, Any]) -> None:
        if self._strict(issuer) and not _ISSUER_TYPES & set(
            check_types(issuer, self.node, "issuer")
        ):
            raise BadgeChainError(
                "the issuer is not of type Issuer or Profile", code="issuer_type_invalid"
            )
        if not isinstance(issuer.get("name"), str):
            raise BadgeChainError("the issuer has no name", code="ob2_structure_invalid")

    def _check_ob_structure(self) -> Check:
        if self.kind == "assertion":
            self._badge_class_shape(self._badge())
        if self.kind in ("assertion", "badge_class"):
            self._issuer_shape(self._issuer())
            return self._passed("ob_structure", "its badge class and issuer are sound")
        return self._passed("ob_structure", f"a {self.kind} links to no badge class")

    # -- keys, proofs, recipient -------------------------------------------------------

    def _check_issuer_key(self) -> Check:
        kind, _ = self._method()
        if kind == "signed":
            self._signing_key()
            return self._passed("issuer_key", "the signing key is the issuer's")
        url = self._hosted_url()
        issuer = self._issuer()
        anchor = issuer.get("url") if self.version == "1.0" else self._issuer_url()
        outcome = hosted_in_scope(url, issuer, anchor)
        if outcome != "ok":
            self._warn("issuer_key", outcome, "the issuer has no HTTP URL to bound where it hosts")
        return self._passed("issuer_key", f"{url:.80} is where the issuer hosts its assertions")

    def _signing_key(self) -> dict[str, Any]:
        return key_for(self, self._method()[1], self._issuer(), self._issuer_url())

    def _check_proof(self) -> Check:
        kind, _ = self._method()
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
        url = self._hosted_url()
        if self.fetch_json(url, "hosted assertion") != self.node:
            raise BadgeChainError(
                f"the assertion hosted at {url:.80} is not the one given", code="hosted_mismatch"
            )
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
        if self.kind in ("assertion", "badge_class"):
            holders += (
                [self._badge(), self._issuer()] if self.kind == "assertion" else [self._issuer()]
            )
        refs: list[object] = []
        for holder in holders:
            value = holder.get("endorsement")
            refs += value if isinstance(value, list) else [] if value is None else [value]
        if len(refs) > MAX_ENDORSEMENTS:
            raise BadgeChainError(
                f"more than {MAX_ENDORSEMENTS} endorsements", code="endorsement_invalid"
            )
        for ref in refs:
            try:
                verify_endorsement(self, ref)
            except Unreachable:
                raise
            except BadgeChainError as exc:
                raise BadgeChainError(
                    f"an endorsement is not valid ({exc.code}: {exc.message})",
                    code="endorsement_invalid",
                ) from exc
        if not refs:
            return Check("chain", "passed", "no_endorsements", "no endorsements")
        return self._passed("chain", f"{len(refs)} endorsement(s) verified")

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
        listing = self.node_at(reference, "revocation list", "revocation")
        if "type" in listing and "RevocationList" not in types_of(listing):
            raise BadgeChainError(
                "the revocation list is not a RevocationList", code="revocation_list_invalid"
            )
        ids = {value for key in ("id", "uid") if isinstance(value := self.node.get(key), str)}
        entry = revoked_entry(listing, ids)
        if entry is not None:
            reason = entry.get("revocationReason")
            raise BadgeChainError(
                f"revoked by its issuer{': ' + str(reason)[:200] if reason else ''}", code="revoked"
            )
        return self._passed("revocation", "not on the issuer's revocation list")

    def _check_status(self) -> Check:
        return Check("status", "passed", "no_status", "OB 2.0 has no status entry (see revocation)")

    def _check_validity(self) -> Check:
        issued, expires = self._dates()
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
        if issuer in policy.deny:
            raise BadgeChainError("the issuer is on the deny list", code="issuer_denied")
        if policy.allow and issuer not in policy.allow:
            raise BadgeChainError("the issuer is not on the allow list", code="issuer_not_trusted")
        return self._passed("trust", "the issuer is trusted")
