"""The pinned JSON-LD contexts: installed as locked, equal to the reference copies, offline only."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld

from badgechain.chain import contexts
from badgechain.chain.contexts import (
    document_loader,
    load_context,
    pinned_context_urls,
)
from badgechain.chain.errors import ContextError

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = json.loads((REPO_ROOT / "chain" / "contexts.lock.json").read_text(encoding="utf-8"))
INSTALLED = REPO_ROOT / "chain" / "contexts" / "installed"
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install_contexts.py"

# Reference copies outside interop/contexts/index.json: 1EdTech's validator bundles these
# (its CachingDocumentLoader maps the URL to the file; peers/PROVENANCE.md).
VALIDATOR_COPIES = {
    "https://w3id.org/security/data-integrity/v1": "data-integrity-v1.jsonld",
    "https://purl.imsglobal.org/spec/ob/v3p0/context.json": "ob-v3p0.json",
    "https://w3id.org/security/suites/ed25519-2020/v1": "security-suites-ed25519-2020-v1.jsonld",
    "https://w3id.org/openbadges/v2": "obv2x.jsonld",
}
# Pinned for Blockcerts with no reference copy in shared/: what vouches for them is that the
# peers' Blockcerts fixtures hash, under them, to the targetHash their issuers anchored.
NO_REFERENCE_COPY = {
    "https://w3id.org/blockcerts/v1",
    "https://w3id.org/blockcerts/schema/2.0-alpha/context.json",
    "https://w3id.org/blockcerts/v2",
    "https://w3id.org/blockcerts/v2.1",
    "https://w3id.org/blockcerts/v3",
    "https://w3id.org/blockcerts/v3.1",
    "https://w3id.org/blockcerts/v3.2",
    "https://w3id.org/security/suites/chained-2021/v1",
    "https://w3id.org/security/suites/merkle-2019/v1",
    "https://w3id.org/vc/status-list/2021/v1",
}
# Used by the interop fixtures, but no npm package publishes them.
NOT_PACKAGED = {
    "https://www.w3.org/ns/credentials/examples/v2",
    "https://w3id.org/citizenship/v4rc1",
    "https://www.w3.org/ns/did/v1.1",
}
OB_303 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"


@pytest.fixture(autouse=True, scope="module")
def _installed() -> None:
    if not (INSTALLED / "index.json").is_file():
        pytest.fail("JSON-LD contexts are not installed: run python scripts/install_contexts.py")


def canonical(document: Any) -> bytes:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def reference_copy(shared_dir: Path, url: str) -> Any:
    interop = shared_dir / "interop"
    index = json.loads((interop / "contexts" / "index.json").read_text(encoding="utf-8"))
    if url in index:
        path = interop / "contexts" / index[url]
    else:
        path = interop / "peers" / "1edtech-inspector" / "contexts" / VALIDATOR_COPIES[url]
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("url", sorted(LOCK["contexts"]))
def test_installed_context_equals_the_reference_copy(shared_dir: Path, url: str) -> None:
    if url in NO_REFERENCE_COPY:
        pytest.skip("no reference copy in shared/ (tests/chain/test_blockcerts.py vouches)")
    assert load_context(url) == reference_copy(shared_dir, url)


def test_ob_303_is_the_spec_copy_and_the_validator_variant_only_adds_terms(
    shared_dir: Path,
) -> None:
    variant_path = "interop/contexts/variants/ob-v3p0-context-3.0.3.validator-latest.json"
    variant = json.loads((shared_dir / variant_path).read_text(encoding="utf-8"))["@context"]
    ours = load_context(OB_303)["@context"]
    assert ours != variant
    assert {term: variant[term] for term in ours} == ours
    assert {"jti", "endorsementJwt"} <= set(variant) - set(ours)


@pytest.mark.parametrize("url", sorted(LOCK["contexts"]))
def test_installed_file_hashes_match_the_lock(url: str) -> None:
    entry = LOCK["contexts"][url]
    index = json.loads((INSTALLED / "index.json").read_text(encoding="utf-8"))
    data = (INSTALLED / index[url]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert canonical(load_context(url)) == data
    assert entry["integrity"].startswith("sha512-")
    assert entry["version"][0].isdigit()


def test_index_lists_exactly_the_locked_urls_and_aliases() -> None:
    expected = set(LOCK["contexts"])
    for entry in LOCK["contexts"].values():
        expected.update(entry.get("aliases", []))
    index = json.loads((INSTALLED / "index.json").read_text(encoding="utf-8"))
    assert set(index) == expected == pinned_context_urls()


def test_every_context_the_fixtures_use_is_installed_unless_no_package_has_it(
    shared_dir: Path,
) -> None:
    interop = shared_dir / "interop"
    roots = [interop / "examples", interop / "vectors", interop / "peers/1edtech-inspector/ob30"]
    used = {url for root in roots for path in root.rglob("*.json") for url in context_refs(path)}
    assert OB_303 in used
    assert used - pinned_context_urls() == NOT_PACKAGED


def context_refs(path: Path) -> set[str]:
    found: set[str] = set()
    pending: list[Any] = [json.loads(path.read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            value = node.get("@context", [])
            found.update(url for url in (value if isinstance(value, list) else [value]))
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return {url for url in found if isinstance(url, str)}


@pytest.mark.parametrize(
    "url",
    [
        "https://example.invalid/context.json",
        "https://www.w3.org/ns/credentials/v2/",
        "http://www.w3.org/ns/credentials/v2",
        "",
    ],
)
def test_unknown_url_is_refused_without_a_fetch(url: str) -> None:
    with pytest.raises(ContextError) as caught:
        load_context(url)
    assert caught.value.code == "context_unknown"
    with pytest.raises(ContextError):
        document_loader(url, {})


def test_non_string_url_is_refused() -> None:
    with pytest.raises(ContextError) as caught:
        load_context(42)  # type: ignore[arg-type]
    assert caught.value.code == "context_unknown"


def test_document_loader_returns_a_pyld_remote_document() -> None:
    remote = document_loader("https://www.w3.org/ns/credentials/v2", {"headers": {}})
    assert remote["contextUrl"] is None
    assert remote["documentUrl"] == "https://www.w3.org/ns/credentials/v2"
    assert remote["document"]["@context"]["@protected"] is True


def test_each_load_is_a_fresh_copy() -> None:
    first = load_context(OB_303)
    first["@context"].clear()
    assert load_context(OB_303)["@context"]


def test_pyld_expands_offline_and_keeps_our_error_as_the_cause(shared_dir: Path) -> None:
    signed = shared_dir / "interop" / "vectors" / "generated" / "py-signed-ob.json"
    credential = json.loads(signed.read_text(encoding="utf-8"))
    expanded = jsonld.expand(credential, {"documentLoader": document_loader})
    assert "https://www.w3.org/2018/credentials#issuer" in expanded[0]
    credential["@context"] = [*credential["@context"], "https://example.invalid/unknown-ctx"]
    with pytest.raises(jsonld.JsonLdError) as caught:
        jsonld.to_rdf(credential, {"documentLoader": document_loader})
    causes = []
    error: BaseException | None = caught.value
    while error is not None:
        causes.append(error)
        error = error.__cause__
    assert isinstance(causes[-1], ContextError)
    assert causes[-1].code == "context_unknown"


@pytest.fixture
def installed_dir_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the module at another folder; the per-process cache is reset around the test."""

    def point(folder: Path) -> None:
        monkeypatch.setattr(contexts, "_installed_dir", lambda: folder)
        contexts._installed.cache_clear()

    yield point
    monkeypatch.undo()
    contexts._installed.cache_clear()


def test_missing_installation_says_how_to_install(installed_dir_at: Any, tmp_path: Path) -> None:
    installed_dir_at(tmp_path / "nothing-here")
    with pytest.raises(ContextError) as caught:
        load_context(OB_303)
    assert caught.value.code == "contexts_not_installed"
    assert "scripts/install_contexts.py" in caught.value.message


@pytest.mark.parametrize(
    "index",
    [
        '{"https://x.invalid/": "absent.json"}',
        '{"https://x.invalid/": "../../../etc/passwd.json"}',
        '{"https://x.invalid/": 7}',
        '["not", "a", "map"]',
        "{not json",
        '{"https://x.invalid/": "broken.json"}',
        '{"https://x.invalid/": "list.json"}',
    ],
)
def test_damaged_installation_is_reported(
    installed_dir_at: Any, tmp_path: Path, index: str
) -> None:
    (tmp_path / "index.json").write_text(index)
    (tmp_path / "broken.json").write_text('{"@context": ')
    (tmp_path / "list.json").write_text("[]")
    installed_dir_at(tmp_path)
    with pytest.raises(ContextError) as caught:
        load_context("https://x.invalid/")
    assert caught.value.code == "contexts_not_installed"


def run_check(dest: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(INSTALL_SCRIPT), "--check", "--dest", str(dest)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_install_script_check_accepts_the_installation() -> None:
    done = run_check(INSTALLED)
    assert done.returncode == 0, done.stderr
    assert f"{len(LOCK['contexts'])} contexts installed as locked" in done.stdout


def test_install_script_check_names_a_tampered_context(tmp_path: Path) -> None:
    copy = tmp_path / "installed"
    shutil.copytree(INSTALLED, copy)
    index = json.loads((copy / "index.json").read_text(encoding="utf-8"))
    target = copy / index[OB_303]
    target.write_bytes(target.read_bytes().replace(b"Achievement", b"Achievemint", 1))
    done = run_check(copy)
    assert done.returncode == 1
    assert OB_303 in done.stderr
    assert "sha256" in done.stderr
