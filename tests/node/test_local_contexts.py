"""Local contexts: an operator trusts contexts beyond the pinned set (node config
`local_contexts`), without replacing a pinned one or redefining a local one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from badgechain.chain.contexts import add_local_contexts, load_context, pinned_context_urls
from badgechain.chain.errors import ContextError
from badgechain.node.config import (
    ConfigError,
    NodeConfig,
    install_local_contexts,
    read_local_contexts,
)

VC2 = "https://www.w3.org/ns/credentials/v2"


def _index(folder: Path, entries: dict[str, tuple[str, bytes]]) -> Path:
    for name, body in entries.values():
        (folder / name).write_bytes(body)
    index = folder / "index.json"
    index.write_text(json.dumps({url: name for url, (name, _) in entries.items()}))
    return index


def test_a_local_context_loads_and_a_pinned_one_is_not_replaced(tmp_path: Path) -> None:
    url = "https://local.test/contexts/a-local-context"
    body = json.dumps({"@context": {"@vocab": "https://local.test/vocab#"}}).encode()
    evil = json.dumps({"@context": {"@vocab": "https://evil.test/#"}}).encode()
    index = _index(tmp_path, {url: ("a.jsonld", body), VC2: ("vc2.jsonld", evil)})
    install_local_contexts(tmp_path, NodeConfig(local_contexts=index.name))
    assert load_context(url) == json.loads(body)
    assert VC2 in pinned_context_urls()
    assert load_context(VC2) != json.loads(evil)
    # The same URL again with the same document is fine; with another it is refused.
    add_local_contexts({url: body})
    with pytest.raises(ContextError):
        add_local_contexts({url: evil})


@pytest.mark.parametrize(
    "index_text",
    ["not json", "[]", json.dumps({"ftp://x": "a.jsonld"}), json.dumps({"https://x": 3})],
)
def test_a_bad_index_is_a_config_error(tmp_path: Path, index_text: str) -> None:
    (tmp_path / "index.json").write_text(index_text)
    with pytest.raises(ConfigError):
        read_local_contexts(tmp_path / "index.json")


def test_files_are_read_beside_the_index_only(tmp_path: Path) -> None:
    (tmp_path / "inner").mkdir()
    (tmp_path / "secret.jsonld").write_text('{"@context": {}}')
    index = tmp_path / "inner" / "index.json"
    index.write_text(json.dumps({"https://x.test/c": "../secret.jsonld"}))
    with pytest.raises(ConfigError):
        read_local_contexts(index)


def test_a_document_that_is_not_a_context_is_refused() -> None:
    with pytest.raises(ContextError):
        add_local_contexts({"https://x.test/not-a-context": b'{"a": 1}'})
