"""Full offline verification of N distinct badges, against raw Ed25519 in the same run.

    .venv/bin/python -m benchmarks.verify [--count 1000] [--no-js] [--profile 200]
        [--distinct-created]

Prints badges/s for BadgeChain's verifier and for the JavaScript reference stack on the
same badges, each as a ratio to raw pynacl signature checks, and BadgeChain's ratio to the
JavaScript stack (this machine is noisy, so only ratios measured in one run compare).
`--profile N` then prints where N verifications spend their time (cProfile, by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.keys import KeyPair, verify_signature
from badgechain.chain.proof import proof_value_bytes, sign_credential, signing_input
from badgechain.chain.verify import verify_badge

ISSUED = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def make_badges(count: int, distinct_created: bool = False) -> list[dict[str, Any]]:
    """`distinct_created` gives every proof its own `created`, so no two proof configurations
    are alike (chain.proof keeps the hash of recent ones)."""
    issuer = KeyPair.from_seed(b"benchmark issuer".ljust(32, b"\0"))
    badges = []
    for number in range(count):
        earner = KeyPair.from_seed(number.to_bytes(32, "big"))
        achievement = build_achievement(
            issuer.did,
            achievement_id=f"urn:uuid:00000000-0000-4000-8000-{number:012d}",
            name=f"Benchmark badge {number}",
            description="One of many distinct badges",
            criteria="Exists",
        )
        credential = build_credential(
            issuer_did=issuer.did,
            subject_id=earner.did,
            achievement=achievement,
            valid_from=ISSUED,
            credential_id=f"urn:uuid:10000000-0000-4000-8000-{number:012d}",
        )
        created = ISSUED + timedelta(seconds=number if distinct_created else 0)
        badges.append(sign_credential(credential, issuer, created=created))
    return badges


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def raw_ed25519(badges: list[dict[str, Any]], rounds: int = 5) -> float:
    """Baseline: pynacl verification of the same signatures over precomputed inputs."""
    issuer_key = KeyPair.from_seed(b"benchmark issuer".ljust(32, b"\0")).public_key
    cases = [(signing_input(b, b["proof"]), proof_value_bytes(b["proof"])) for b in badges]
    started = time.perf_counter()
    for _ in range(rounds):
        for message, signature in cases:
            assert verify_signature(issuer_key, message, signature)
    return rate(len(cases) * rounds, time.perf_counter() - started)


def badgechain_verify(badges: list[dict[str, Any]]) -> float:
    payloads = [json.dumps(badge).encode() for badge in badges]
    verify_badge(payloads[0], now=NOW)  # warm pyld's context cache, as a running node would be
    started = time.perf_counter()
    for payload in payloads:
        assert verify_badge(payload, now=NOW).verdict == "valid"
    return rate(len(payloads), time.perf_counter() - started)


def javascript_verify(badges: list[dict[str, Any]]) -> float | None:
    try:
        from tests.interop.jspeer import start_js_peer

        peer = start_js_peer()
    except BaseException as exc:  # pytest.skip raises a BaseException outside pytest
        print(f"JavaScript stack unavailable: {exc}")
        return None
    results, elapsed_ms = peer.verify_batch(badges)
    assert all(result["verified"] for result in results)
    return rate(len(badges), elapsed_ms / 1000)


def profile(badges: list[dict[str, Any]], top: int = 25) -> None:
    payloads = [json.dumps(badge).encode() for badge in badges]
    verify_badge(payloads[0], now=NOW)
    profiler = cProfile.Profile()
    profiler.enable()
    for payload in payloads:
        verify_badge(payload, now=NOW)
    profiler.disable()
    print(f"\nprofile of {len(payloads)} verifications (top {top} by own time):")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    print_modules(stats)


def print_modules(stats: pstats.Stats) -> None:
    """Each module's share of the profile's own time (C builtins as one)."""
    shares: dict[str, float] = {}
    for (path, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        name = "C builtins" if path == "~" else "/".join(Path(path).parts[-2:])
        shares[name] = shares.get(name, 0.0) + own
    total = sum(shares.values()) or 1.0
    print("share of own time by module:")
    for name, own in sorted(shares.items(), key=lambda item: -item[1])[:12]:
        print(f"  {own / total:6.1%}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--no-js", action="store_true")
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument("--distinct-created", action="store_true")
    args = parser.parse_args()
    print(f"signing {args.count} distinct badges …", flush=True)
    badges = make_badges(args.count, args.distinct_created)
    raw = raw_ed25519(badges)
    ours = badgechain_verify(badges)
    theirs = None if args.no_js else javascript_verify(badges)

    def to_js(rate_: float) -> str:
        return f"{rate_ / theirs:.2f}" if theirs else "-"

    print(f"\n| verifier ({args.count} badges) | badges/s | ratio to raw Ed25519 | ratio to JS |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| raw pynacl Ed25519 verify (baseline) | {raw:,.0f} | 1 | {to_js(raw)} |")
    print(f"| BadgeChain full offline verify | {ours:,.1f} | {ours / raw:.4f} | {to_js(ours)} |")
    if theirs is not None:
        print(f"| JavaScript @digitalbazaar/vc verify | {theirs:,.1f} | {theirs / raw:.4f} | 1 |")
        print(f"\nBadgeChain / JavaScript: {ours / theirs:.2f}")
    if args.profile:
        profile(badges[: args.profile])


if __name__ == "__main__":
    main()
