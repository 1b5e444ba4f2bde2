"""JSON-LD from many threads: every verdict right, no context state leaks (issue 17)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from badgechain.chain.badge import build_achievement, build_credential
from badgechain.chain.contexts import context_urls, document_loader, load_context
from badgechain.chain.errors import CanonicalizationError
from badgechain.chain.jsonld import canonize
from badgechain.chain.keys import KeyPair
from badgechain.chain.proof import sign_credential
from badgechain.chain.verify import verify_badge

ISSUED = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
EARNER = KeyPair.from_seed(bytes(range(1, 33)))
THREADS = 16
VERIFICATIONS = 2_000
MULTIKEY = "https://w3id.org/security/multikey/v1"
CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"


def _badge(n: int) -> dict[str, Any]:
    key = KeyPair.from_seed(bytes([n + 1]) * 32)
    achievement = build_achievement(
        key.did, achievement_id=f"urn:uuid:a{n}", name=f"Skill {n}", description="D", criteria="C"
    )
    credential = build_credential(
        issuer_did=key.did,
        subject_id=EARNER.did,
        achievement=achievement,
        valid_from=ISSUED,
        credential_id=f"urn:uuid:c{n}",
    )
    return sign_credential(credential, key, created=ISSUED)


def _tampered(badge: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(badge))
    changed["credentialSubject"]["achievement"]["name"] = "Forged skill"
    return changed


def test_verifications_from_many_threads_are_all_right() -> None:
    badges = [_badge(n) for n in range(8)]
    inputs = [(json.dumps(badge).encode(), "valid") for badge in badges]
    inputs.append((json.dumps(_tampered(badges[0])).encode(), "invalid"))
    start = threading.Barrier(THREADS)

    def verify(i: int) -> tuple[str, str]:
        if i < THREADS:
            start.wait(timeout=30)  # every worker starts together, so they overlap
        data, expected = inputs[i % len(inputs)]
        return expected, verify_badge(data, now=NOW).verdict

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(verify, range(VERIFICATIONS)))
    wrong = [(expected, got) for expected, got in results if expected != got]
    assert wrong == [], f"{len(wrong)} wrong verdicts of {VERIFICATIONS}: {wrong[:5]}"


def test_an_import_is_refused_and_does_not_change_later_documents() -> None:
    # pyld merges an importing context into the cached imported one in place; a later document
    # using that context would then expand `evilTerm` instead of refusing it.
    importing = {
        "@context": [{"@import": MULTIKEY, "evilTerm": "https://evil.example/x"}],
        "id": "urn:x:1",
        "evilTerm": "a",
    }
    later = {"@context": [CREDENTIALS_V2, MULTIKEY], "id": "urn:x:2", "evilTerm": "b"}
    with pytest.raises(CanonicalizationError) as refused:
        canonize(importing)
    assert refused.value.code == "jsonld_import_unsupported"
    with pytest.raises(CanonicalizationError) as undefined:
        canonize(later)
    assert undefined.value.code == "jsonld_undefined_term"


def test_no_installed_context_uses_import() -> None:
    for url in context_urls():
        assert "@import" not in json.dumps(load_context(url)), url


def test_another_loader_is_not_answered_from_the_pinned_cache() -> None:
    document = {"@context": [MULTIKEY], "id": "urn:x:3", "extra": "x"}
    with pytest.raises(CanonicalizationError):
        canonize(document)  # caches the pinned multikey context in this thread

    def loader(url: str, options: Any = None) -> dict[str, Any]:
        if url != MULTIKEY:
            return document_loader(url, options)
        context = {"@context": {"extra": "https://example.org/extra", "id": "@id"}}
        return {"contextUrl": None, "documentUrl": url, "document": context, "tag": "static"}

    assert canonize(document, loader=loader) == '<urn:x:3> <https://example.org/extra> "x" .\n'
    with pytest.raises(CanonicalizationError):
        canonize(document)  # and the other loader's document did not enter the pinned cache


def test_each_thread_gets_the_same_canonical_form() -> None:
    badge = _badge(0)
    expected = canonize(badge)
    with ThreadPoolExecutor(THREADS) as pool:
        forms = set(pool.map(lambda _: canonize(json.loads(json.dumps(badge))), range(64)))
    assert forms == {expected}


def test_documents_with_their_own_contexts_leave_the_thread_cache_alone() -> None:
    # A stranger's inline contexts would otherwise stay cached, per thread, up to 1 MiB each.
    from badgechain.chain import jsonld

    def run() -> tuple[list[str], list[str]]:
        # pyld's path fills the thread's cache (canonize itself now takes the compiled path)
        jsonld._pyld_quads(_badge(1), safe=True, loader=document_loader)
        pinned = list(jsonld._thread_caches.by_mode[True])
        for n in range(20):
            inline = {"@context": [CREDENTIALS_V2, {f"term{n}": f"https://example.org/{n}"}]}
            canonize(inline | {"id": f"urn:x:{n}", f"term{n}": "x"})
        return pinned, list(jsonld._thread_caches.by_mode[True])

    with ThreadPoolExecutor(1) as pool:
        before, after = pool.submit(run).result()
    assert before and after == before
