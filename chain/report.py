"""The report every verifier writes: named checks in the order of CHECK_NAMES and a verdict.
Shared by the OB 3.0 verifier and the other formats' verifiers (OB 2.0, Blockcerts, badge.blue,
presentations), so none of them imports another's module for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

__all__ = [
    "CHECK_NAMES",
    "CLOCK_SKEW",
    "Check",
    "CheckStatus",
    "Report",
    "Verdict",
    "finish_report",
]

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
CLOCK_SKEW = timedelta(minutes=5)


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


def finish_report(fmt: str, uid: str | None, checks: list[Check], credential: Any = None) -> Report:
    """The report of `checks`, with every check not run added as skipped, in order."""
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
