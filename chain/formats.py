"""Documents that are not BadgeChain / OB 3.0 credentials but have verifiers of their own:
Verifiable Presentations, Blockcerts certificates and badge.blue award records."""

from __future__ import annotations

import logging
from datetime import datetime

from . import badgeblue, blockcerts, presentation, stapled
from .errors import BadgeChainError
from .jsonio import parse_json
from .presentation import CredentialVerifier
from .report import Check, Report, finish_report
from .resolve import Resolvers

__all__ = ["verify_other_format"]

logger = logging.getLogger(__name__)


def verify_other_format(
    data: object, *, now: datetime, resolvers: Resolvers, verify_credential: CredentialVerifier
) -> Report | None:
    """The report for `data` (JSON bytes or a parsed document) when one of these formats
    claims it; None for anything else, which the OB 3.0 verifier then reads.
    `verify_credential` verifies the credentials a presentation carries (chain.verify's)."""
    document = _json_object(data) if isinstance(data, bytes) else data
    if not isinstance(document, dict):
        return None
    try:
        if badgeblue.is_award_record(document):
            return badgeblue.verify_award(document, now=now, resolvers=resolvers)
        if stapled.is_stapled_credential(document):  # a downloaded badge with its staple
            return stapled.verify_stapled_credential(
                document, now=now, resolvers=resolvers, verify_credential=verify_credential
            )
        if presentation.is_presentation(document):
            return presentation.verify_presentation(
                document, now=now, resolvers=resolvers, verify_credential=verify_credential
            )
        if blockcerts.blockcerts_version(document) is not None:
            return blockcerts.verify_blockcerts(document, now=now, resolvers=resolvers)
    except Exception:  # a bug must not turn hostile input into a crash of the caller
        logger.exception("verification of a %s document failed unexpectedly", "non-OB3")
        failed = Check("input", "failed", "internal_error", "internal verifier error")
        return finish_report("unknown", None, [failed])
    return None


def _json_object(data: bytes) -> object:
    if data.lstrip()[:1] != b"{":
        return None
    try:
        return parse_json(data)
    except BadgeChainError:
        return None  # the OB 3.0 path reads it again and reports the error
