"""Private keys at rest: Argon2id-derived SecretBox encryption, or plain only when asked.

Pure: bytes in, bytes out. The CLI owns the file (mode 0600, atomic replace).
"""

from __future__ import annotations

import json
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from .errors import IdentityError
from .keys import KeyPair
from .multibase import b64url_decode, b64url_encode

__all__ = ["KDF_MEMLIMIT_BYTES", "KDF_OPSLIMIT", "lock_key", "unlock_key"]

KEY_FILE_VERSION = 1
# Argon2id cost: 64 MiB and 3 passes (libsodium's "interactive" memory, "moderate" passes).
KDF_OPSLIMIT = 3
KDF_MEMLIMIT_BYTES = 64 * 1024 * 1024
MAX_KEY_FILE_BYTES = 4096


def lock_key(
    key: KeyPair,
    passphrase: str | None,
    *,
    opslimit: int = KDF_OPSLIMIT,
    memlimit: int = KDF_MEMLIMIT_BYTES,
) -> bytes:
    """Serialize a key for storage; encrypted unless `passphrase` is None (plain on request)."""
    record: dict[str, Any] = {"version": KEY_FILE_VERSION, "did": key.did}
    if passphrase is None:
        record |= {"encryption": "none", "seed": b64url_encode(key.seed)}
    else:
        salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
        box = nacl.secret.SecretBox(_derive(passphrase, salt, opslimit, memlimit))
        record |= {
            "encryption": "argon2id-xsalsa20poly1305",
            "kdf": {"salt": b64url_encode(salt), "opslimit": opslimit, "memlimit": memlimit},
            "ciphertext": b64url_encode(bytes(box.encrypt(key.seed))),
        }
    return (json.dumps(record, indent=2) + "\n").encode()


def key_file_is_encrypted(data: bytes) -> bool:
    return _parse(data).get("encryption") != "none"


def unlock_key(data: bytes, passphrase: str | None) -> KeyPair:
    record = _parse(data)
    if record.get("encryption") == "none":
        key = KeyPair(b64url_decode(_text(record, "seed")))
    elif record.get("encryption") == "argon2id-xsalsa20poly1305":
        key = _decrypt(record, passphrase)
    else:
        raise IdentityError("unknown key file encryption", code="key_file_invalid")
    if key.did != record.get("did"):
        raise IdentityError("key file DID does not match its key", code="key_file_invalid")
    return key


def _decrypt(record: dict[str, Any], passphrase: str | None) -> KeyPair:
    if passphrase is None:
        raise IdentityError(
            "the key is encrypted: a passphrase is needed", code="passphrase_required"
        )
    kdf = record.get("kdf")
    if not isinstance(kdf, dict):
        raise IdentityError("key file has no KDF parameters", code="key_file_invalid")
    opslimit, memlimit = kdf.get("opslimit"), kdf.get("memlimit")
    # Bound the KDF cost so a crafted file cannot make us spend minutes or gigabytes.
    if not isinstance(opslimit, int) or not isinstance(memlimit, int):
        raise IdentityError("key file KDF parameters are invalid", code="key_file_invalid")
    if not (1 <= opslimit <= 10 and 8192 <= memlimit <= 1024**3):
        raise IdentityError("key file KDF parameters are out of range", code="key_file_invalid")
    salt = b64url_decode(_text(kdf, "salt"))
    if len(salt) != nacl.pwhash.argon2id.SALTBYTES:
        raise IdentityError("key file salt has the wrong length", code="key_file_invalid")
    box = nacl.secret.SecretBox(_derive(passphrase, salt, opslimit, memlimit))
    try:
        return KeyPair(box.decrypt(b64url_decode(_text(record, "ciphertext"))))
    except nacl.exceptions.CryptoError as exc:
        raise IdentityError(
            "wrong passphrase or damaged key file", code="passphrase_wrong"
        ) from exc


def _derive(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        passphrase.encode(),
        salt,
        opslimit=opslimit,
        memlimit=memlimit,
    )


def _parse(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_KEY_FILE_BYTES:
        raise IdentityError("key file is too large", code="key_file_invalid")
    try:
        record = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IdentityError("key file is not JSON", code="key_file_invalid") from exc
    if not isinstance(record, dict) or record.get("version") != KEY_FILE_VERSION:
        raise IdentityError("unsupported key file version", code="key_file_invalid")
    return record


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise IdentityError(f"key file field {name!r} is missing", code="key_file_invalid")
    return value
