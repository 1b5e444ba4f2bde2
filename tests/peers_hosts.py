"""Where the third-party badges in ../shared/interop/peers find what they link to.

PROVENANCE.md's "offline use": 1EdTech's OB 2.0 tests serve `ob20/assets/` at
https://example.org/, http://example.org/ and https://www.example.org/; the validator-core and
badgr-server fixtures name http://a.com/... resources. A hosted input is also served at its own
URL (`self_hosted`), as those test suites serve the assertion under test. Test-only: the files
are read where they lie and never copied.
"""

from __future__ import annotations

import json
from pathlib import Path

from badgechain.chain.bake import unbake
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.resolve import DocumentFetcher, Fetched, Unreachable
from tests.conftest import shared_path

__all__ = ["PEER_HOSTS", "peer_fetcher", "peer_resources", "peers_dir", "self_hosted"]

# Hosts whose every path is answered: a path with no file there is a 404, not an outage.
PEER_HOSTS = frozenset({"example.org", "www.example.org", "a.com"})
_OB20_BASES = ("https://example.org/", "http://example.org/", "https://www.example.org/")
_A_COM = {  # http://a.com/<name> -> file, as the validator-core and badgr-server tests mock it
    "badgeclass": "badgr-server/backpack/1_0_basic_badgeclass.json",
    "issuer": "validator-core/components/1_0_basic_issuer.json",
    "instance": "badgr-server/backpack/1_0_basic_instance.json",
    "instance2": "badgr-server/backpack/1_0_basic_instance2.json",
    "instance3": "badgr-server/backpack/1_0_basic_instance3.json",
    "instancebaddate": "badgr-server/backpack/1_0_basic_instance_with_bad_date.json",
    "assertion-embedded1": "badgr-server/backpack/2_0_assertion_embedded_badgeclass.json",
}


def peers_dir() -> Path:
    """../shared/interop/peers (the calling test is skipped when ../shared is absent)."""
    return shared_path("interop", "peers")


def peer_resources() -> dict[str, Path]:
    """URL -> file for every resource the peers' badges link to."""
    peers = peers_dir()
    resources: dict[str, Path] = {}
    for path in sorted((peers / "1edtech-inspector" / "ob20" / "assets").iterdir()):
        for base in _OB20_BASES:
            resources[base + path.name] = path
    for name, relative in _A_COM.items():
        resources[f"http://a.com/{name}"] = peers / relative
    return resources


def self_hosted(path: Path) -> dict[str, bytes]:
    """The URL a hosted input says it lives at (2.0 `id`, 1.0 `verify.url`) -> its own JSON."""
    data = path.read_bytes()
    try:
        text = unbake(data).payload if path.suffix in (".png", ".svg") else data.decode()
        document = json.loads(text)
    except (BadgeChainError, UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(document, dict):
        return {}
    hosted: dict[str, bytes] = {}
    verify = document.get("verification", document.get("verify"))
    for url in (document.get("id"), verify.get("url") if isinstance(verify, dict) else None):
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            hosted[url] = text.encode()
    return hosted


def peer_fetcher(extra: dict[str, bytes] | None = None) -> DocumentFetcher:
    """An in-memory DocumentFetcher over `peer_resources()` plus `extra` (which wins)."""
    resources, extra = peer_resources(), dict(extra or {})

    def fetch(url: str) -> Fetched | None:
        if url in extra:
            return Fetched(url, url, "application/ld+json", extra[url])
        path = resources.get(url)
        if path is not None:
            return Fetched(url, url, "application/ld+json", path.read_bytes())
        host = url.split("://", 1)[-1].split("/", 1)[0].lower()
        if host in PEER_HOSTS:
            return None
        raise Unreachable(f"no test server for {url:.100}")

    return fetch
