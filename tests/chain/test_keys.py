"""Identity: did:key codec, DID documents, did:web, and keys at rest."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from badgechain.chain.errors import BadgeChainError, IdentityError
from badgechain.chain.keys import (
    KeyPair,
    build_did_web_document,
    did_key_document,
    did_key_from_public_key,
    did_web_url,
    public_key_from_did_key,
    read_did_document,
)
from badgechain.chain.keystore import lock_key, unlock_key
from badgechain.chain.multibase import b58decode, b58encode
from tests.chain.conftest import key_from_secret_multikey
from tests.conftest import shared_path

FAST_KDF = {"opslimit": 1, "memlimit": 8192}


@given(st.binary(max_size=80))
def test_base58_round_trips(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


@given(st.binary(min_size=32, max_size=32))
def test_did_key_round_trips_and_starts_z6mk(public_key: bytes) -> None:
    did = did_key_from_public_key(public_key)
    assert did.startswith("did:key:z6Mk")
    assert public_key_from_did_key(did) == public_key


@pytest.mark.parametrize(
    "did",
    [
        "did:key:",
        "did:key:abc",
        "did:key:z6Mk0OIl",  # not base58
        "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",  # secp256k1, not Ed25519
        "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbT",  # truncated key
        "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#frag",
        "did:web:example.com",
    ],
)
def test_malformed_did_keys_are_refused(did: str) -> None:
    with pytest.raises(IdentityError):
        public_key_from_did_key(did)


def test_did_key_document_matches_the_reference_implementation() -> None:
    expected = json.loads(
        shared_path(
            "interop",
            "examples",
            "did",
            "did-key-ed25519-document.digitalbazaar-did-method-key.json",
        ).read_text()
    )
    document = expected.get("didDocument", expected)
    assert did_key_document(document["id"]) == {
        k: v for k, v in document.items() if k != "keyAgreement"
    }


def test_w3c_test_key_has_the_published_did() -> None:
    pair = json.loads(shared_path("interop", "vectors", "vc-di-eddsa", "keyPair.json").read_text())
    key = key_from_secret_multikey(pair["privateKeyMultibase"])
    assert key.multikey == pair["publicKeyMultibase"]


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:w3c-ccg.github.io", "https://w3c-ccg.github.io/.well-known/did.json"),
        ("did:web:w3c-ccg.github.io:user:alice", "https://w3c-ccg.github.io/user/alice/did.json"),
        ("did:web:example.com%3A3000:user:alice", "https://example.com:3000/user/alice/did.json"),
    ],
)
def test_did_web_urls(did: str, url: str) -> None:
    assert did_web_url(did) == url


@pytest.mark.parametrize(
    "did", ["did:web:", "did:web:127.0.0.1", "did:web:exa mple.com", "did:key:z6Mk"]
)
def test_bad_did_web_is_refused(did: str) -> None:
    with pytest.raises(IdentityError):
        did_web_url(did)


def test_did_web_document_round_trip_and_id_binding() -> None:
    key = KeyPair.generate()
    did = "did:web:issuer.example:badges"
    document = build_did_web_document(did, key)
    assert read_did_document(document, did) == {f"{did}#key-1": key.public_key}
    with pytest.raises(IdentityError):
        read_did_document(document, "did:web:other.example")


def test_did_web_document_ignores_keys_not_for_assertions() -> None:
    key = KeyPair.generate()
    did = "did:web:issuer.example"
    document = build_did_web_document(did, key)
    document["assertionMethod"] = []
    assert read_did_document(document, did) == {}


def test_encrypted_key_file_needs_the_right_passphrase() -> None:
    key = KeyPair.generate()
    data = lock_key(key, "correct horse", **FAST_KDF)
    assert key.seed.hex() not in data.decode()
    assert unlock_key(data, "correct horse") == key
    for passphrase, code in (("wrong", "passphrase_wrong"), (None, "passphrase_required")):
        with pytest.raises(IdentityError) as caught:
            unlock_key(data, passphrase)
        assert caught.value.code == code


def test_plain_key_file_only_on_request() -> None:
    key = KeyPair.generate()
    record = json.loads(lock_key(key, None))
    assert record["encryption"] == "none"
    assert unlock_key(lock_key(key, None), None) == key


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'{"version": 9}',
        json.dumps({"version": 1, "encryption": "rot13"}).encode(),
        b"x" * 10_000,
    ],
)
def test_damaged_key_files_are_refused_cleanly(data: bytes) -> None:
    with pytest.raises(BadgeChainError):
        unlock_key(data, "pw")


def test_crafted_kdf_cost_is_refused() -> None:
    record = json.loads(lock_key(KeyPair.generate(), "pw", **FAST_KDF))
    record["kdf"]["memlimit"] = 64 * 1024**3
    with pytest.raises(IdentityError):
        unlock_key(json.dumps(record).encode(), "pw")


def test_key_repr_hides_the_seed() -> None:
    key = KeyPair.generate()
    assert key.seed.hex() not in repr(key) and key.did in repr(key)
