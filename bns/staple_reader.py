"""The BNS record a staple carries, read and checked (chain/staple.py `RecordReader`).

Pure (bns/ decodes records, chain/ cannot): `badgechain verify --offline` reads staples
with it, without loading the node or an HTTP client.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from badgechain.bns.record import Record, validate_record
from badgechain.chain.errors import BadgeChainError
from badgechain.chain.keys import did_key_from_public_key
from badgechain.chain.resolve import Resolvers
from badgechain.chain.staple import MAX_RECORD_BYTES, STAPLE_RECORD_READER, StapledRecord
from badgechain.chain.uid import uid_text

__all__ = ["read_stapled_record", "record_staple_extra", "with_record_reader"]


def read_stapled_record(wire: bytes) -> StapledRecord:
    """The record in `wire`, every signature checked; BadgeChainError `staple_forged` when a
    part is not signed by its writer, `staple_invalid` when it does not decode."""
    if len(wire) > MAX_RECORD_BYTES:
        raise BadgeChainError("the stapled BNS record is too large", code="staple_invalid")
    try:
        record = Record.from_wire_bytes(wire)
    except BadgeChainError as exc:  # DecodeError, RecordError
        raise BadgeChainError(f"undecodable: {exc.message:.120}", code="staple_invalid") from exc
    try:
        validate_record(record)  # no stamp asked: the issuer's signatures are what count
    except BadgeChainError as exc:
        raise BadgeChainError(f"{exc.code}: {exc.message:.120}", code="staple_forged") from exc
    entry, revocation = record.entry, record.revocation
    return StapledRecord(
        uid=uid_text(entry.uid),
        issuer_did=did_key_from_public_key(entry.issuer_key),
        earner_did=did_key_from_public_key(entry.earner_key) if entry.earner_key else None,
        created=_moment(entry.created),
        revoked_at=None if revocation is None else _moment(revocation.revoked_at),
        reason="" if revocation is None else revocation.reason,
    )


def _moment(seconds: int) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise BadgeChainError(
            "a time in the record is out of range", code="staple_invalid"
        ) from exc


def record_staple_extra() -> dict[str, Any]:
    """What `Resolvers.extra` needs to read staples."""
    return {STAPLE_RECORD_READER: read_stapled_record}


def with_record_reader(resolvers: Resolvers) -> Resolvers:
    """`resolvers` that can read a staple's BNS record."""
    return dataclasses.replace(resolvers, extra={**resolvers.extra, **record_staple_extra()})
