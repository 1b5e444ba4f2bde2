"""Input over a limit gets a report (invalid, `input_too_large`) on every path: bytes, a
VC-JWT, and a credential already parsed by the caller."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from badgechain.chain.jsonio import MAX_JSON_BYTES, MAX_JSON_DEPTH
from badgechain.chain.verify import MAX_INPUT_BYTES, Report, verify_badge, verify_credential
from tests.chain.test_jose import b64_json

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _input(report: Report) -> tuple[str, str, str]:
    check = report.check("input")
    return report.verdict, check.status, check.code


def _nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "data",
    [
        b" " * (MAX_INPUT_BYTES + 1),
        b'{"name": "' + b"x" * MAX_JSON_BYTES + b'"}',
        (b64_json({"alg": "EdDSA"}) + "." + "A" * MAX_JSON_BYTES + ".AAAA").encode(),
    ],
    ids=["bytes", "json", "vc-jwt"],
)
def test_oversized_bytes_get_a_report(data: bytes) -> None:
    assert _input(verify_badge(data, now=NOW)) == ("invalid", "failed", "input_too_large")


@pytest.mark.parametrize(
    "credential",
    [
        {"name": "x" * (MAX_JSON_BYTES + 1)},
        {"items": ["x" * 1000] * 2000},
        {"deep": _nested(MAX_JSON_DEPTH + 1)},
        {"deeper": _nested(5000)},  # json.dumps would hit the recursion limit here
    ],
    ids=["string", "many", "deep", "deeper"],
)
def test_oversized_parsed_credentials_get_a_report(credential: dict[str, Any]) -> None:
    report = verify_credential(credential, now=NOW)
    assert _input(report) == ("invalid", "failed", "input_too_large")


def test_a_credential_at_the_depth_limit_is_read() -> None:
    report = verify_credential({"deep": _nested(MAX_JSON_DEPTH - 1)}, now=NOW)
    assert report.check("input").status == "passed"
