"""VC-JWT reading and header-jwk verification: 1EdTech tokens, tampering, bad keys, bad tokens."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import png
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from badgechain.chain.errors import BadgeChainError, DecodeError, InputTooLarge, ProofError
from badgechain.chain.jose import (
    MAX_JWS_BYTES,
    Jws,
    credential_from_jwt,
    parse_compact_jws,
    verify_jws_with_header_jwk,
)

FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=150)
CREDENTIAL = {"@context": ["https://www.w3.org/ns/credentials/v2"], "id": "urn:x:1", "iss": "did:x"}
# Fixed seeds, so every run signs with the same keys.
ED25519_SEED = bytes(range(32))
P256_SECRET = 0x1F2E3D4C5B6A79881F2E3D4C5B6A79881F2E3D4C5B6A79881F2E3D4C5B6A7988

Signer = Callable[[bytes], bytes]


# --- helpers -------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64_json(value: object) -> str:
    return b64(json.dumps(value).encode())


def integer_b64(number: int) -> str:
    return b64(number.to_bytes((number.bit_length() + 7) // 8, "big"))


def sign_token(header: dict[str, Any], payload: dict[str, Any], signer: Signer) -> str:
    signing_input = f"{b64_json(header)}.{b64_json(payload)}"
    return f"{signing_input}.{b64(signer(signing_input.encode()))}"


def eddsa_key() -> tuple[dict[str, Any], Signer]:
    key = Ed25519PrivateKey.from_private_bytes(ED25519_SEED)
    raw = key.public_key().public_bytes_raw()
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}, key.sign


def es256_key() -> tuple[dict[str, Any], Signer]:
    key = ec.derive_private_key(P256_SECRET, ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64(numbers.x.to_bytes(32, "big"))}
    jwk["y"] = b64(numbers.y.to_bytes(32, "big"))

    def sign(message: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return jwk, sign


def baked_token(path: Path) -> str:
    """The VC-JWT in a 1EdTech baked image, read without chain.bake."""
    if path.suffix == ".svg":
        match = re.search(rb'verify="([^"]+)"', path.read_bytes())
        assert match is not None
        return match.group(1).decode()
    for kind, body in png.Reader(bytes=path.read_bytes()).chunks():
        if kind == b"iTXt" and body.startswith(b"openbadgecredential\0"):
            return bytes(body[24:]).decode()
    raise AssertionError(f"no token in {path}")


def proof_code(token: str) -> str:
    with pytest.raises(ProofError) as caught:
        verify_jws_with_header_jwk(parse_compact_jws(token))
    return caught.value.code


def parse_code(token: str) -> str:
    with pytest.raises(BadgeChainError) as caught:
        parse_compact_jws(token)
    return caught.value.code


@pytest.fixture
def ob30(shared_dir: Path) -> Path:
    return shared_dir / "interop" / "peers" / "1edtech-inspector" / "ob30"


# --- the 1EdTech tokens ---------------------------------------------------------------------

BAKED = ["simple-jwt.png", "simple-jwt.svg", "simple-jwt_v1.png", "simple-jwt_v1.svg"]


@pytest.mark.parametrize("name", BAKED)
def test_1edtech_baked_tokens_verify(ob30: Path, name: str) -> None:
    jws = parse_compact_jws(baked_token(ob30 / name))
    assert jws.header["alg"] == "RS256"
    assert jws.header["jwk"]["kty"] == "RSA"
    verify_jws_with_header_jwk(jws)


@pytest.mark.parametrize("name", BAKED)
def test_1edtech_credential_shapes(ob30: Path, name: str) -> None:
    found = credential_from_jwt(parse_compact_jws(baked_token(ob30 / name)))
    assert found.legacy == ("_v1" in name)
    assert "OpenBadgeCredential" in found.credential["type"]
    assert found.credential["id"] == found.claims["jti"]
    assert not set(found.credential) & {"iat", "iss", "nbf", "jti", "aud"}
    assert ("validFrom" in found.credential) != found.legacy  # VC 2.0 vs 1.1 vocabulary


@pytest.mark.parametrize("name", ["simple-jwt.png", "simple-jwt_v1.svg"])
def test_flipped_signature_byte_fails(ob30: Path, name: str) -> None:
    head, body, signature = baked_token(ob30 / name).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[len(raw) // 2] ^= 0x01
    assert proof_code(f"{head}.{body}.{b64(bytes(raw))}") == "jws_signature_invalid"


def test_edited_payload_fails(ob30: Path) -> None:
    head, body, signature = baked_token(ob30 / "simple-jwt.png").split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload["name"] = "Forged Badge"
    assert proof_code(f"{head}.{b64_json(payload)}.{signature}") == "jws_signature_invalid"


def test_swapped_header_key_fails(ob30: Path) -> None:
    modern = baked_token(ob30 / "simple-jwt.png").split(".")
    legacy = baked_token(ob30 / "simple-jwt_v1.png").split(".")
    assert proof_code(f"{legacy[0]}.{modern[1]}.{modern[2]}") == "jws_signature_invalid"


def test_token_without_jwk_is_refused(ob30: Path) -> None:
    token = (ob30 / "simple.jwt").read_text()
    assert proof_code(token) == "jws_key_missing"
    assert credential_from_jwt(parse_compact_jws(token)).legacy


# --- our own keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(("alg", "make_key"), [("EdDSA", eddsa_key), ("ES256", es256_key)])
def test_eddsa_and_es256_sign_and_verify(alg: str, make_key: Callable[[], Any]) -> None:
    jwk, sign = make_key()
    head, _, signature = sign_token({"alg": alg, "jwk": jwk}, CREDENTIAL, sign).split(".")
    verify_jws_with_header_jwk(parse_compact_jws(f"{head}.{b64_json(CREDENTIAL)}.{signature}"))
    edited = {**CREDENTIAL, "id": "urn:x:2"}
    assert proof_code(f"{head}.{b64_json(edited)}.{signature}") == "jws_signature_invalid"


def test_alg_none_and_unknown_algs_are_refused() -> None:
    jwk, _ = eddsa_key()
    for alg in ["none", "HS256", "RS512", "eddsa"]:
        token = f"{b64_json({'alg': alg, 'jwk': jwk})}.{b64_json(CREDENTIAL)}."
        assert proof_code(token) == "jws_alg_unsupported"


def test_es256_der_signature_is_refused() -> None:
    jwk, _ = es256_key()
    key = ec.derive_private_key(P256_SECRET, ec.SECP256R1())
    token = sign_token(
        {"alg": "ES256", "jwk": jwk}, CREDENTIAL, lambda m: key.sign(m, ec.ECDSA(hashes.SHA256()))
    )
    assert proof_code(token) == "jws_signature_invalid"


def bad_keys() -> list[tuple[str, dict[str, Any]]]:
    ed_jwk, _ = eddsa_key()
    ec_jwk, _ = es256_key()
    off_curve = {**ec_jwk, "y": b64(b"\x01" * 32)}
    return [
        ("EdDSA", {**ed_jwk, "kty": "RSA"}),
        ("EdDSA", {**ed_jwk, "crv": "Ed448"}),
        ("EdDSA", {**ed_jwk, "x": b64(b"\x01" * 31)}),
        ("EdDSA", {**ed_jwk, "x": 12}),
        ("EdDSA", {**ed_jwk, "x": ed_jwk["x"] + "="}),
        ("EdDSA", {**ed_jwk, "alg": "ES256"}),
        ("EdDSA", {**ed_jwk, "use": "enc"}),
        ("ES256", off_curve),
        ("ES256", ed_jwk),
        ("RS256", {"kty": "RSA", "n": integer_b64(2**1023 + 1), "e": "AQAB"}),  # 1024 bits
        ("RS256", {"kty": "RSA", "n": b64(b"\xff" * 256), "e": b64(b"\x02")}),
        ("RS256", {"kty": "RSA", "e": "AQAB"}),
    ]


@pytest.mark.parametrize(("alg", "jwk"), bad_keys())
def test_unusable_keys_are_refused(alg: str, jwk: dict[str, Any]) -> None:
    token = f"{b64_json({'alg': alg, 'jwk': jwk})}.{b64_json(CREDENTIAL)}.{b64(b'x' * 64)}"
    assert proof_code(token) == "jws_key_invalid"


def test_jwk_that_is_not_an_object_is_refused() -> None:
    token = f"{b64_json({'alg': 'EdDSA', 'jwk': 'key'})}.{b64_json(CREDENTIAL)}.{b64(b'x')}"
    assert proof_code(token) == "jws_key_invalid"


@pytest.mark.parametrize("extra", [{"crit": ["exp"]}, {"b64": False}])
def test_header_extensions_are_refused(extra: dict[str, Any]) -> None:
    jwk, sign = eddsa_key()
    token = sign_token({"alg": "EdDSA", "jwk": jwk, **extra}, CREDENTIAL, sign)
    assert proof_code(token) == "jws_header_unsupported"


# --- parsing --------------------------------------------------------------------------------

GOOD_HEADER = b64_json({"alg": "EdDSA"})
GOOD_PAYLOAD = b64_json(CREDENTIAL)
DUPLICATE_ALG = b64(b'{"alg": "EdDSA", "alg": "none"}')
HUGE_INTEGER = b64(b'{"n": ' + b"9" * 5000 + b"}")
NAN = b64(b'{"n": NaN}')
NOT_UTF8 = b64(b"\xff{}")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        f"{GOOD_HEADER}.{GOOD_PAYLOAD}",
        f"{GOOD_HEADER}.{GOOD_PAYLOAD}.c2ln.ZXh0cmE.bW9yZQ",  # five parts: a JWE
        f"{GOOD_HEADER}=.{GOOD_PAYLOAD}.c2ln",
        f"{GOOD_HEADER}.{GOOD_PAYLOAD}.c2l+",
        f"{GOOD_HEADER}.{GOOD_PAYLOAD}.c2l/",
        f"{GOOD_HEADER}.{GOOD_PAYLOAD} .c2ln",
        f"{GOOD_HEADER}.{GOOD_PAYLOAD}.c2lnA",  # length 5: not base64 at all
        f"e31.{GOOD_PAYLOAD}.c2ln",  # non-canonical trailing bits of "{}"
        f"{b64_json([1])}.{GOOD_PAYLOAD}.c2ln",
        f"{b64_json({'typ': 'JWT'})}.{GOOD_PAYLOAD}.c2ln",
        f"{b64_json({'alg': 5})}.{GOOD_PAYLOAD}.c2ln",
        f"{GOOD_HEADER}.{b64(b'not json')}.c2ln",
        f"{GOOD_HEADER}.{b64_json('text')}.c2ln",
        f"{DUPLICATE_ALG}.{GOOD_PAYLOAD}.c2ln",
        f"{GOOD_HEADER}.{HUGE_INTEGER}.c2ln",
        f"{GOOD_HEADER}.{NAN}.c2ln",
        f"{GOOD_HEADER}.{NOT_UTF8}.c2ln",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert parse_code(token) == "jws_malformed"


def test_oversized_and_deep_tokens_are_refused() -> None:
    with pytest.raises(InputTooLarge):
        parse_compact_jws("a" * (MAX_JWS_BYTES + 1))
    deep = b64(b'{"a":' * 5000 + b"1" + b"}" * 5000)
    with pytest.raises(InputTooLarge):
        parse_compact_jws(f"{GOOD_HEADER}.{deep}.c2ln")


def test_non_text_token_is_refused() -> None:
    with pytest.raises(DecodeError):
        parse_compact_jws(b"a.b.c")  # type: ignore[arg-type]


def test_parse_keeps_the_exact_signing_input_and_signature() -> None:
    jws = parse_compact_jws(f"  {GOOD_HEADER}.{GOOD_PAYLOAD}.c2ln\n")
    assert jws == Jws(
        {"alg": "EdDSA"}, CREDENTIAL, f"{GOOD_HEADER}.{GOOD_PAYLOAD}".encode(), b"sig"
    )


def test_payload_without_a_credential_is_refused() -> None:
    for payload in [{"iss": "x"}, {"vc": "text"}, {"vc": [CREDENTIAL]}]:
        jws = parse_compact_jws(f"{GOOD_HEADER}.{b64_json(payload)}.c2ln")
        with pytest.raises(DecodeError) as caught:
            credential_from_jwt(jws)
        assert caught.value.code == "jwt_not_credential"


def test_jwt_claims_are_split_from_a_vc2_credential() -> None:
    found = credential_from_jwt(parse_compact_jws(f"{GOOD_HEADER}.{GOOD_PAYLOAD}.c2ln"))
    assert found.claims == {"iss": "did:x"}
    assert found.credential == {key: CREDENTIAL[key] for key in ("@context", "id")}
    assert not found.legacy


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.binary(max_size=80))
@FUZZ
def test_parse_round_trips_any_header_and_payload(
    payload: dict[str, Any], signature: bytes
) -> None:
    header = {"alg": "EdDSA", **{f"x-{key}": value for key, value in payload.items()}}
    jws = parse_compact_jws(f"{b64_json(header)}.{b64_json(payload)}.{b64(signature)}")
    assert (jws.header, jws.payload, jws.signature) == (header, payload, signature)


@given(st.text(alphabet="abcAB01-_.=+/ {}", max_size=120))
@FUZZ
def test_fuzz_tokens_only_raise_badgechain_errors(token: str) -> None:
    try:
        jws = parse_compact_jws(token)
    except BadgeChainError:
        return
    with pytest.raises(BadgeChainError):
        verify_jws_with_header_jwk(jws)
