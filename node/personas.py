"""Personas and endorsements (issue 5, item 3).

A persona is a genesis badge the node signs with its key about its key; a badge issued to
`urn:bns:<its UID>` verifies through it to that key (chain/verify.py, docs/personas.md).
An endorsement is an EndorsementCredential whose subject is another badge; its BNS entry
names the endorsed badge's earner key, so that earner decides where it lives, and it is
delivered to that earner's inbox.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Final

from badgechain.bns.record import entry_from_badge, make_entry
from badgechain.chain.badge import BNS_URN_PREFIX, build_endorsement, build_genesis, issuer_id
from badgechain.chain.credential import CredentialView
from badgechain.chain.multibase import multibase_encode_b58
from badgechain.chain.proof import format_created
from badgechain.chain.uid import Uid, uid_text
from badgechain.storage import Kind, Store

from . import pipeline
from .badgestore import endorsement_uids, load_badge, load_record, put_record, records
from .delivery import outbox
from .earner import badge_url
from .errors import NodeError
from .issuer import persona_earner_key
from .pipeline import Issuance
from .resolvers import fetch_badge_by_uid, verify_online
from .services import Services
from .states import NOT_SERVED, BadgeState, advance

__all__ = [
    "ENDORSEMENT_ROLE",
    "MAX_COMMENT_CHARS",
    "MAX_PERSONA_TEXT_CHARS",
    "PERSONA_ROLE",
    "Endorsement",
    "Persona",
    "PersonaError",
    "create_persona",
    "endorse",
    "list_endorsements",
    "list_personas",
    "publish_persona",
]

PERSONA_ROLE: Final = "persona"
ENDORSEMENT_ROLE: Final = "endorsement"
MAX_PERSONA_TEXT_CHARS: Final = 2000  # a persona's name or description
MAX_COMMENT_CHARS: Final = 2000
MAX_LISTED_ENDORSEMENTS: Final = 500
DEFAULT_PERSONA_NAME: Final = "Persona"
LOGGED_NAME_CHARS: Final = 120
# Kind.JOURNAL mark of a persona whose BNS entry or location is not out yet.
UNPUBLISHED_PERSONA_PREFIX: Final = b"persona/unpublished/"
DEFAULT_COMMENT: Final = "Endorsed"

log = logging.getLogger(__name__)


class PersonaError(NodeError):
    """A persona or endorsement request the node refuses; `code` says why."""

    code = "persona_invalid"


@dataclass(frozen=True, slots=True)
class Persona:
    uid: Uid
    name: str
    state: str  # "unpublished" until its BNS entry and location are out, then "accepted"
    created: str

    def to_json(self) -> dict[str, str]:
        uid = multibase_encode_b58(self.uid)
        return {
            "uid": uid,
            "urn": BNS_URN_PREFIX + uid,
            "name": self.name,
            "state": self.state,
            "created": self.created,
        }


@dataclass(frozen=True, slots=True)
class Endorsement:
    uid: Uid
    endorsed: Uid
    credential: dict[str, Any]
    # "delivered", "queued" (the outbox retries), "refused", "kept" (no other earner to
    # deliver to) or "unpublished" (the node retries publishing, then delivers)
    delivery: str
    delivery_code: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": multibase_encode_b58(self.uid),
            "endorsed": multibase_encode_b58(self.endorsed),
            "credential": self.credential,
            "delivery": {"status": self.delivery, "code": self.delivery_code},
        }


def _text(value: object, default: str, name: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_PERSONA_TEXT_CHARS:
        raise PersonaError(
            f"{name} must be text of 1 to {MAX_PERSONA_TEXT_CHARS} characters",
            code=f"{name}_invalid",
        )
    return value


# --- personas -----------------------------------------------------------------------------


async def create_persona(
    node: Services, name: object = None, description: object = None
) -> Persona:
    """Sign a genesis badge about this node's key, store it, publish its BNS entry (earner:
    this node's key) and this node's URL for it. Stored first: a failed publish leaves it
    "unpublished" in `list_personas`, the error is raised, and the next start retries."""
    persona_name = _text(name, DEFAULT_PERSONA_NAME, "name")
    now = node.clock()
    genesis = build_genesis(
        node.did,
        persona_name=persona_name,
        valid_from=now,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        achievement_id=f"urn:uuid:{uuid.uuid4()}",
    )
    if description is not None:
        achievement = genesis["credentialSubject"]["achievement"]
        achievement["description"] = _text(description, "", "description")
    state = {
        "role": PERSONA_ROLE,
        "state": BadgeState.UNPUBLISHED,
        "name": persona_name,
        "at": format_created(now),
        "created": int(now.timestamp()),  # the BNS entry's: a retry must sign the same entry
    }
    issuance = Issuance(
        build=lambda _: genesis,
        state=state,
        earner_key=node.key.public_key,
        with_status=False,
        action="persona",
        more_writes=_persona_mark,  # the persona's own mark, instead of a badge's
        unpublished_mark=False,
        log_details={"name": persona_name[:LOGGED_NAME_CHARS]},  # the log's details are small
    )
    signed = pipeline.sign_and_store(node, issuance, now)
    # Published below; should that fail, node/work.py tries again.
    node.enqueue("persona", signed.uid, delay_s=node.settings.queue_retry_first_s)
    return await publish_persona(node, signed.uid)


def _persona_mark(signed: pipeline.Signed) -> list[pipeline.Op]:
    """The "unpublished" mark of a persona; its value is the signing input, for the BNS
    entry (an empty value, written before marks kept it, has the entry re-derive it)."""
    return [(Kind.JOURNAL, UNPUBLISHED_PERSONA_PREFIX + signed.uid, signed.signing_input)]


async def publish_persona(node: Services, uid: Uid) -> Persona:
    """Publish a stored persona's BNS entry and this node's URL for it, then mark it
    "accepted". Idempotent: the entry is the same bytes each time."""
    store, names = node.store, node.names
    state = load_record(store, uid)
    signed = load_badge(store, uid)
    if state is None or signed is None or state.role != PERSONA_ROLE or state.created is None:
        raise PersonaError("this node has no such persona", code="persona_not_found")
    key, created, bits = node.key, state.created, node.config.pow_difficulty
    kept = store.get(Kind.JOURNAL, UNPUBLISHED_PERSONA_PREFIX + uid)
    if kept:  # the signing input signing kept
        entry = make_entry(key, uid, kept, key.public_key, created, difficulty=bits)
    else:  # a mark written before marks kept it
        entry = entry_from_badge(signed, key, key.public_key, created, difficulty=bits)
    await names.publish(node.key, entry)
    record = await names.set_location(node.key, uid, [badge_url(node, uid)])
    urls = list(record.location.urls) if record.location else []
    with store.batch() as batch:
        accepted = advance(state.state, BadgeState.ACCEPTED)
        put_record(batch, uid, state.with_members(state=accepted, urls=tuple(urls)))
        batch.delete(Kind.JOURNAL, UNPUBLISHED_PERSONA_PREFIX + uid)
    return Persona(uid, state.name or "", accepted, state.at or "")


async def move_persona(node: Services, uid: Uid, urls: list[str]) -> None:
    """Publish `urls` as where a published persona's genesis badge is served: its node's
    gateway moved (node/relocation.py). Not logged, like the persona itself."""
    state = load_record(node.store, uid)
    if state is None or state.role != PERSONA_ROLE or state.state != BadgeState.ACCEPTED:
        raise PersonaError("this node has no such published persona", code="persona_not_found")
    record = await node.names.set_location(node.key, uid, urls)
    kept = tuple(record.location.urls) if record.location else ()
    with node.store.batch() as batch:
        moved = advance(state.state, BadgeState.ACCEPTED)
        put_record(batch, uid, state.with_members(state=moved, urls=kept))


def list_personas(node: Services) -> list[Persona]:
    """This node's personas, in UID order."""
    store = node.store
    return [
        Persona(uid, state.name or "", str(state.state), str(state.at))
        for uid, state in records(store)
        if state.role == PERSONA_ROLE
    ]


# --- endorsements -------------------------------------------------------------------------


async def endorse(node: Services, endorsed: Uid, comment: object = None) -> Endorsement:
    """Endorse the badge `endorsed`: it must verify (not invalid); sign, store and publish
    the endorsement (with a status list entry, like any badge it issues), then deliver it to
    the endorsed badge's earner (the outbox retries)."""
    store, names = node.store, node.names
    text = _text(comment, DEFAULT_COMMENT, "comment")
    endorsed_badge = await _checked_badge(node, store, endorsed)
    earner_key = await persona_earner_key(node, BNS_URN_PREFIX + uid_text(endorsed))
    now = node.clock()
    badge_name = endorsed_badge.get("name")
    credential = build_endorsement(
        endorser_did=node.did,
        endorsed_uid=uid_text(endorsed),
        comment=text,
        valid_from=now,
        credential_id=f"urn:uuid:{uuid.uuid4()}",
        name=f"Endorsement of {badge_name}"[:200] if isinstance(badge_name, str) else "Endorsement",
    )
    if node.config.issuer_name:  # the endorser is this node's issuer: named as in its badges
        credential["issuer"]["name"] = node.config.issuer_name
    state = {
        "role": ENDORSEMENT_ROLE,
        "state": BadgeState.ISSUED,
        "endorsed": uid_text(endorsed),
        "at": format_created(now),
    }
    issuance = Issuance(
        build=lambda entry: credential | {"credentialStatus": entry},
        state=state,
        earner_key=earner_key,
        action="endorse",
    )
    result = await pipeline.issue(node, issuance)
    uid, signed = result.uid, result.credential
    if not result.published:  # stored and marked: the node retries
        return Endorsement(uid, endorsed, signed, "unpublished", "publish_failed")
    if earner_key is None or earner_key == node.key.public_key:
        # Nobody else writes its location: this node serves it.
        await names.set_location(node.key, uid, [badge_url(node, uid)])
        return Endorsement(uid, endorsed, signed, "kept")
    return Endorsement(uid, endorsed, signed, *_delivery_status(store, uid))


async def _checked_badge(node: Services, store: Store, uid: Uid) -> dict[str, Any]:
    """The badge to endorse, held here or fetched from its location, verified online."""
    held = load_badge(store, uid)
    data = json.dumps(held).encode() if held is not None else await fetch_badge_by_uid(node, uid)
    report = await verify_online(node, data, expected_uid=uid_text(uid))
    if report.verdict == "invalid" or report.credential is None:
        failed = report.failed
        why = f"{failed.name}: {failed.code}" if failed else "unreadable"
        raise PersonaError(f"the badge is not valid ({why})", code="badge_invalid")
    return report.credential


def _delivery_status(store: Store, uid: Uid) -> tuple[str, str]:
    """What became of the endorsement's first delivery attempt, and why (the outbox goes on
    trying what is "queued")."""
    waiting = next((entry for entry in outbox(store) if entry.uid == uid), None)
    if waiting is None:
        return "delivered", ""
    return ("refused" if waiting.due is None else "queued"), waiting.error


def list_endorsements(node: Services, endorsed: Uid) -> list[dict[str, Any]]:
    """The endorsements of `endorsed` this node holds and shows, in UID order."""
    store = node.store
    found = []
    for uid in endorsement_uids(store, endorsed, limit=MAX_LISTED_ENDORSEMENTS):
        credential = load_badge(store, uid)
        state = load_record(store, uid)
        if credential is None or (state is not None and state.state in NOT_SERVED):
            continue
        subject = CredentialView(credential).subject
        found.append(
            {
                "uid": uid_text(uid),
                "issuer": issuer_id(credential),
                "comment": subject.get("endorsementComment"),
                "credential": credential,
            }
        )
    return found
