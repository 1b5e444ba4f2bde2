"""What a Bitstring Status List entry costs a verification, against the same badges without
one, in the same run.

    .venv/bin/python -m benchmarks.status [--count 200]

Over N distinct badges by one issuer: no status entry (the baseline); an entry whose list
is not read (offline: what the larger document alone costs); an entry whose list the
verifier checks again for every badge (a verifier without a cache); and an entry whose list
comes from a cache of checked lists, as a node's verifier keeps it. Prints
badges/s and each as a ratio to the baseline (this machine is noisy: only ratios measured
in one run compare).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import sign_credential
from badgechain.chain.resolve import Resolvers
from badgechain.chain.statuslist import (
    STATUS_LIST_FETCHER,
    build_list_credential,
    check_list_credential,
    empty_bits,
    list_proof_verifier,
    status_entry,
)
from badgechain.chain.verify import verify_credential

ISSUED = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
LIST_URL = "https://issuer.example/status/AAAAAAAAAAAA"
ISSUER = KeyPair.from_seed(b"status benchmark issuer".ljust(32, b"\0"))


def make_badges(count: int, *, with_status: bool) -> list[dict[str, Any]]:
    achievement = build_achievement(
        ISSUER.did, achievement_id="urn:uuid:5e1f", name="Status", description="D", criteria="C"
    )
    badges = []
    for number in range(count):
        credential = build_credential(
            issuer_did=ISSUER.did,
            subject_id=KeyPair.from_seed(number.to_bytes(32, "big")).did,
            achievement=achievement,
            valid_from=ISSUED,
            credential_id=f"urn:uuid:20000000-0000-4000-8000-{number:012d}",
            credential_status=status_entry(LIST_URL, number) if with_status else None,
        )
        badges.append(sign_credential(credential, ISSUER, created=ISSUED))
    return badges


def signed_list() -> dict[str, Any]:
    unsigned = build_list_credential(
        ISSUER.did,
        LIST_URL,
        empty_bits(),
        "revocation",
        NOW - timedelta(hours=1),
        NOW + timedelta(hours=1),
        3_600_000,
    )
    return sign_credential(unsigned, ISSUER, created=NOW - timedelta(hours=1))


def rate(badges: list[dict[str, Any]], resolvers: Resolvers, verdict: str = "valid") -> float:
    verify_credential(badges[0], now=NOW, resolvers=resolvers)  # warm the context cache
    started = time.perf_counter()
    for badge in badges:
        assert verify_credential(badge, now=NOW, resolvers=resolvers).verdict == verdict
    return len(badges) / (time.perf_counter() - started)


def fetcher(value: object) -> Resolvers:
    serve: Callable[[str], object] = lambda url: value  # noqa: E731
    return Resolvers(extra={STATUS_LIST_FETCHER: serve})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    plain = make_badges(args.count, with_status=False)
    listed = make_badges(args.count, with_status=True)
    document = signed_list()
    checked = check_list_credential(
        document, list_url=LIST_URL, now=NOW, verify_list_proof=list_proof_verifier(None)
    )
    baseline = rate(plain, Resolvers())
    # Offline: the entry is signed over, its list not read, so the verdict is indeterminate.
    unread = rate(listed, Resolvers(), verdict="indeterminate")
    each_time = rate(listed, fetcher(document))
    cached = rate(listed, fetcher(checked))
    print(f"\n| verification of {args.count} badges | badges/s | ratio to no status |")
    print("| --- | ---: | ---: |")
    print(f"| no status entry (baseline) | {baseline:,.1f} | 1 |")
    unread_row = "status entry, list not read (offline: indeterminate)"
    print(f"| {unread_row} | {unread:,.1f} | {unread / baseline:.3f} |")
    print(
        f"| status list checked for every badge | {each_time:,.1f} | {each_time / baseline:.3f} |"
    )
    print(f"| status list from the checked-list cache | {cached:,.1f} | {cached / baseline:.3f} |")


if __name__ == "__main__":
    main()
