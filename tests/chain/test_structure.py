"""Tests of chain/structure.py: agreement with the official JSON Schemas over the interop
corpus and mutations of it, one negative test per problem code, and totality (Hypothesis).

The JSON Schemas are the referee, not the source: structure.py is written from the specs.
Where the two differ on purpose, the difference is named below and asserted, so that the
note stays true:

* Compacted form. OB 3.0 "Compacted document form" lets `type` (of the classes in its
  table), `proof`, `credentialSchema` and `termsOfUse` hold one value instead of an array;
  the bundled schemas type them as arrays only (interop NOTES.md pitfall 9: every credential
  with a single-object proof is "invalid" against them). The spec itself says the canonical
  schemas may reject the compacted form. We compare after wrapping such single values in a
  list (`_schema_view`).
* VC 1.1 credentials (the spec's AchievementCredentialv1p1 classes). The bundled schemas
  cover the VC 2.0 form only, so a VC 1.1 credential is compared after mapping it onto the
  VC 2.0 names (context, issuanceDate -> validFrom, expirationDate -> validUntil).
* Rules of the spec that the schemas do not express (`SPEC_ONLY_CODES`): an AchievementSubject
  needs an `id` or an `identifier`; a hashed `identityHash` is `md5$…`/`sha256$…` hex.
* Other spec/schema differences, kept out of the generated mutations and asserted by
  `test_documented_differences_are_real`: the spec's `DateTime` (activity dates, proof
  `created`) has an optional zone, the schema's `format: date-time` demands one; URIs and
  country codes are plain strings in the schemas; their `ext:` pattern is unanchored; their
  language pattern is narrower than BCP 47 (`de-CH-1901`). `validUntil` before `validFrom`
  is a VC rule (checked by check_vc_data_model), not in the schemas.
* Empty arrays are read as JSON-LD reads them, as no value: the OB schemas agree, the
  VCDM 2.0 schema (minItems 1) does not.
* Not our business: an inline `credentialSchema` is not fetched or applied. 1EdTech's
  validator reports errors for peers/1edtech-inspector/ob30/complete.json from its inline
  credentialSchema entries (peers/PROVENANCE.md); structurally it is sound, and we say so.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]  # no stubs in the dev set
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from badgechain.chain import lexical, ob3_classes, problems, structure, vc_model
from badgechain.chain.structure import (
    MAX_DEPTH,
    MAX_PROBLEMS,
    VC1_CONTEXT,
    VC2_CONTEXT,
    Problem,
    check_ob3_structure,
    check_vc_data_model,
    is_open_badge,
    parse_date_time,
    validate_structure,
)
from tests.conftest import SHARED_DIR

OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
SPEC_ONLY_CODES = frozenset({"ob_subject_unidentified", "ob_identity_hash_invalid"})
# Classes whose `type` the OB 3.0 compaction table lets be a single string.
COMPACTABLE_TYPES = frozenset(
    {
        "Achievement",
        "AchievementSubject",
        "Address",
        "Alignment",
        "EndorsementSubject",
        "Evidence",
        "Profile",
        "Related",
        "Result",
        "ResultDescription",
        "RubricCriterionLevel",
    }
)
ENUM_KEYS = (
    "achievementType",
    "targetType",
    "identityType",
    "identifierType",
    "resultType",
    "status",
)
MUTATED_URI = "urn:example:mutated"
_REMOVE = object()  # a replacement that deletes the property
Json = Any
Path_ = tuple[str | int, ...]


# -- the corpus ----------------------------------------------------------------------------


def _is_credential(doc: Json) -> bool:
    if not isinstance(doc, dict) or "credentialSubject" not in doc:
        return False  # DID documents, keys, proof configurations, encoded lists
    kinds = doc.get("type")
    return "BitstringStatusListCredential" not in (kinds if isinstance(kinds, list) else [kinds])


def _corpus_paths() -> list[Path]:
    interop = SHARED_DIR / "interop"
    found = [
        *interop.glob("examples/**/*.json"),
        *interop.glob("vectors/**/*.json"),
        *interop.glob("peers/1edtech-inspector/ob30/*.json"),
    ]
    return sorted(path for path in found if _is_credential(json.loads(path.read_text())))


def _corpus_params(*, vc2_only: bool = False) -> list[Any]:
    if not SHARED_DIR.is_dir():
        reason = "../shared is absent: no interop corpus"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason))]
    root = SHARED_DIR / "interop"
    return [
        pytest.param(path, id=str(path.relative_to(root)))
        for path in _corpus_paths()
        if not vc2_only or _load(path)["@context"][0] == VC2_CONTEXT
    ]


def _load(path: Path) -> Json:
    return json.loads(path.read_text())


CORPUS = _corpus_params()
VC2_CORPUS = _corpus_params(vc2_only=True)  # the VCDM 2.0 schema does not cover VC 1.1


# -- the schemas as referee ----------------------------------------------------------------

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339_date_time(value: object) -> bool:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return not isinstance(value, str)  # formats only constrain strings
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _full_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None and bool(
            date.fromisoformat(value)
        )
    except ValueError:
        return False


@cache
def _format_checker() -> jsonschema.FormatChecker:
    # jsonschema asserts "date-time" only with an optional package; check it ourselves.
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date-time")(_rfc3339_date_time)
    checker.checks("date")(_full_date)
    return checker


@cache
def _ob_validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SHARED_DIR / "interop" / "schema" / name).read_text())
    assert schema["$schema"].startswith("https://json-schema.org/draft/2019-09/")
    return jsonschema.Draft201909Validator(schema, format_checker=_format_checker())


@cache
def _vc_validator() -> jsonschema.protocols.Validator:
    path = SHARED_DIR / "interop" / "schema" / "vcdm2-verifiable-credential-schema.json"
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return jsonschema.Draft202012Validator(schema, format_checker=_format_checker())


def _schema_for(doc: Json) -> jsonschema.protocols.Validator:
    kinds = doc.get("type") if isinstance(doc, dict) else None
    endorsement = "EndorsementCredential" in (kinds if isinstance(kinds, list) else [kinds])
    name = "endorsement" if endorsement else "achievement"
    return _ob_validator(f"ob_v3p0_{name}credential_schema.json")


def _schema_view(doc: Json) -> Json:
    """`doc` as the bundled schemas can judge it: compacted values wrapped in lists and
    VC 1.1 credentials mapped onto VC 2.0 names (see the module docstring)."""
    if isinstance(doc, list):
        return [_schema_view(item) for item in doc]
    if not isinstance(doc, dict):
        return doc
    view = {key: _schema_view(value) for key, value in doc.items()}
    if isinstance(view.get("type"), str) and view["type"] in COMPACTABLE_TYPES:
        view["type"] = [view["type"]]
    if "credentialSubject" in view:
        for name in ("proof", "credentialSchema", "termsOfUse"):
            if isinstance(view.get(name), dict):
                view[name] = [view[name]]
        context = view.get("@context")
        if isinstance(context, list) and context and context[0] == VC1_CONTEXT:
            view["@context"] = [VC2_CONTEXT, *context[1:]]
            for old, new in (("issuanceDate", "validFrom"), ("expirationDate", "validUntil")):
                if old in view and new not in view:
                    view[new] = view.pop(old)
    return view


def _schema_errors(doc: Json) -> list[str]:
    errors = _schema_for(doc).iter_errors(_schema_view(doc))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message[:120]}" for e in errors]


def _assert_agree(doc: Json, label: str) -> bool:
    """Assert that the schema and the checker agree on `doc`; return their verdict."""
    problems = check_ob3_structure(doc)
    counted = [p for p in problems if p.code not in SPEC_ONLY_CODES]
    if _schema_for(doc).is_valid(_schema_view(doc)) != (not counted):
        pytest.fail(f"{label}: schema says {_schema_errors(doc)[:3]}, checker says {counted[:3]}")
    if is_open_badge(doc):
        # validate_structure adds the VC checks; they must never be stricter than OB's.
        combined = [p for p in validate_structure(doc) if p.code not in SPEC_ONLY_CODES]
        assert (not combined) == (not counted), f"{label}: {combined[:3]}"
    return not counted


# -- corpus agreement ----------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS)
def test_checker_agrees_with_ob_schema_on_corpus(path: Path) -> None:
    _assert_agree(_load(path), path.name)


def test_corpus_holds_both_verdicts(shared_dir: Path) -> None:
    # The agreement test means little unless the corpus has valid and invalid documents.
    verdicts = {path.name: not check_ob3_structure(_load(path)) for path in _corpus_paths()}
    assert (
        verdicts["simple.json"]
        and verdicts["endorsement-valid.json"]
        and verdicts["simple_v1.json"]
    )
    assert not verdicts["simple-noproof.json"]  # no achievement in its subject
    assert not verdicts["complete_v1.json"]  # its endorsements have no id (and one no name)
    assert not verdicts["signedDataInt.json"]  # a W3C example credential, not an Open Badge


def test_complete_json_is_structurally_sound(shared_dir: Path) -> None:
    # 1EdTech expects errors here from *inline credentialSchema* validation, which we do not
    # do (yet): the credentialSchema entries are checked for shape only, never fetched.
    doc = _load(shared_dir / "interop" / "peers" / "1edtech-inspector" / "ob30" / "complete.json")
    assert validate_structure(doc) == []
    assert not _schema_errors(doc)


def test_single_object_proof_is_accepted_though_the_raw_schema_rejects_it(shared_dir: Path) -> None:
    doc = _load(shared_dir / "interop" / "vectors" / "generated" / "py-signed-ob.json")
    assert isinstance(doc["proof"], dict)
    assert not _ob_validator("ob_v3p0_achievementcredential_schema.json").is_valid(doc)  # pitfall 9
    assert validate_structure(doc) == []
    assert not _schema_errors(doc)  # valid once the proof is a one-item list


@pytest.mark.parametrize("path", VC2_CORPUS)
def test_vc_checker_agrees_with_vcdm2_schema(path: Path) -> None:
    doc = _load(path)
    for label, mutated in [("as is", doc), *_top_level_mutations(doc)]:
        # The VCDM 2.0 schema also requires proofPurpose and verificationMethod in proofs:
        # VC Data Integrity rules, left to chain/proof.py. Proofs are compared without it.
        errors = list(
            _vc_validator().iter_errors({k: v for k, v in mutated.items() if k != "proof"})
        )
        problems = check_vc_data_model(mutated)
        assert (not errors) == (not problems), (
            f"{label}: {[e.message for e in errors][:3]} / {problems[:3]}"
        )


def test_empty_arrays_are_no_value(shared_dir: Path) -> None:
    doc = _apply(_with("evidence", []))
    assert check_vc_data_model(doc) == [] and check_ob3_structure(doc) == []
    assert _ob_schema_accepts(doc)
    assert not _vc_validator().is_valid({k: v for k, v in doc.items() if k != "proof"})


def _top_level_mutations(doc: dict[str, Json]) -> Iterator[tuple[str, Json]]:
    # name/description are left out: the VCDM 2.0 schema is silent on them, VC 2.0 §4.6
    # (string or language value objects) is not. So is proof (see above).
    for key, value in doc.items():
        if key in ("name", "description", "proof"):
            continue
        for label, replacement in _replacements(key, value):
            if label == "emptied" and key not in ("@context", "type", "credentialSubject"):
                # The VCDM 2.0 schema wants one or more items; we read an empty array as
                # JSON-LD does, as no value (so does the OB 3.0 schema).
                continue
            mutated = dict(doc)
            if replacement is _REMOVE:
                del mutated[key]
            else:
                mutated[key] = replacement
            yield f"{key}: {label}", mutated


# -- mutation agreement ----------------------------------------------------------------------


def _replacements(key: str, value: Json) -> Iterator[tuple[str, Json]]:
    yield "removed", _REMOVE
    if isinstance(value, bool) or value is None:
        yield "as a string", MUTATED_URI
    elif isinstance(value, str):
        yield "as a number", 42
        if _RFC3339.fullmatch(value):
            yield "as a date only", value[:10]
    elif isinstance(value, int | float):
        yield "as a string", MUTATED_URI
    elif isinstance(value, dict):
        yield "as a string", MUTATED_URI
        yield "as an array", [value]
    elif isinstance(value, list):
        yield "as an object", {"id": MUTATED_URI}
        yield "emptied", []
    if key in ENUM_KEYS or (key == "type" and isinstance(value, str | list)):
        yield (
            "off the vocabulary",
            "NotAVocabularyTerm" if isinstance(value, str) else ["NotAVocabularyTerm"],
        )
    if key == "@context" and isinstance(value, list):
        yield "reversed", value[::-1]
        yield "second item replaced", [value[0], "https://example.org/context.json", *value[2:]]


def _skeleton(node: Json) -> Json:
    """The shape of a value: keys, JSON kinds and `type` names, no other strings."""
    if isinstance(node, dict):
        return tuple(
            sorted(
                (k, node[k] if k == "type" and isinstance(node[k], str) else _skeleton(node[k]))
                for k in node
            )
        )
    if isinstance(node, list):
        return ("list", tuple(sorted({repr(_skeleton(item)) for item in node})))
    return type(node).__name__


def _objects_in(node: Json, path: Path_ = ()) -> Iterator[tuple[Path_, dict[str, Json]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _objects_in(value, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _objects_in(item, (*path, index))


def _edited(doc: Json, path: Path_, key: str, replacement: Json) -> Json:
    result = copy.deepcopy(doc)
    target = result
    for step in path:
        target = target[step]
    if replacement is _REMOVE:
        del target[key]
    else:
        target[key] = replacement
    return result


def _mutations(doc: Json, seen: set[Json]) -> Iterator[tuple[str, Json]]:
    """Each object given an extra property, and each of its properties removed, retyped, put
    off its vocabulary or reordered; one mutation per (object shape, property, change) not
    in `seen`."""
    for path, obj in list(_objects_in(doc)):
        shape = _skeleton(obj)
        if (shape, "", "extended") not in seen:  # a property of no class: closed classes refuse it
            seen.add((shape, "", "extended"))
            yield (
                f"{'.'.join(map(str, path))} extended",
                _edited(doc, path, "extraProperty", MUTATED_URI),
            )
        for key, value in obj.items():
            for label, replacement in _replacements(key, value):
                if (shape, key, label) in seen:
                    continue
                seen.add((shape, key, label))
                where = ".".join(map(str, (*path, key)))
                yield f"{where} {label}", _edited(doc, path, key, replacement)


def _pruned(node: Json) -> Json:
    """`node` with each array of objects cut down to its items of distinct shapes."""
    if isinstance(node, dict):
        return {key: _pruned(value) for key, value in node.items()}
    if not isinstance(node, list) or not all(isinstance(item, dict) for item in node):
        return node
    shapes: dict[Json, Json] = {}
    for item in node:
        shapes.setdefault(_skeleton(item), _pruned(item))
    return list(shapes.values())


def test_checker_agrees_with_ob_schema_on_mutations(shared_dir: Path) -> None:
    # Bases: the valid VC 2.0-form credentials of the corpus (the VC 1.1 mapping is not
    # mutated); a change already made to an object of the same shape is not made again.
    seen: set[Json] = set()
    counts: dict[str, int] = {}
    verdicts = {True: 0, False: 0}
    for path in _corpus_paths():
        doc = _pruned(_load(path))
        if doc["@context"][0] != VC2_CONTEXT or check_ob3_structure(doc):
            continue
        name = str(path.relative_to(shared_dir / "interop"))
        counts[name] = 0
        for label, mutated in _mutations(doc, seen):
            verdicts[_assert_agree(mutated, f"{name}: {label}")] += 1
            counts[name] += 1
    assert sum(counts.values()) > 500, counts
    assert verdicts[True] > 100 and verdicts[False] > 300, verdicts


def test_mutations_find_every_required_field(shared_dir: Path) -> None:
    # Removing a required property must be reported as missing, at its own path.
    doc = _load(shared_dir / "interop" / "peers" / "1edtech-inspector" / "ob30" / "complete.json")
    labels = [label for label, _ in _mutations(doc, set())]
    removed = {label.removesuffix(" removed") for label in labels if label.endswith(" removed")}
    missing = set()
    for where in removed:
        parts = [int(p) if p.isdigit() else p for p in where.split(".")]
        problems = check_ob3_structure(_edited(doc, tuple(parts[:-1]), str(parts[-1]), _REMOVE))
        missing |= {p.path.rsplit(".", 1)[-1] for p in problems if p.code == "ob_field_missing"}
    required = {
        "id",
        "type",
        "name",
        "description",
        "criteria",
        "achievement",
        "issuer",
        "validFrom",
    }
    assert (
        required | {"credentialSubject", "targetName", "targetUrl", "identityHash", "resultType"}
        <= missing
    )


# -- a small valid badge, and one negative test per problem code ---------------------------


def _badge() -> dict[str, Any]:
    return {
        "@context": [VC2_CONTEXT, OB_CONTEXT],
        "id": "urn:uuid:3c4a2a1e-2b7d-4d5e-9a55-1f0c8d8f4a10",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": "Teamwork",
        "issuer": {"id": "did:example:issuer", "type": ["Profile"], "name": "Example College"},
        "validFrom": "2024-01-01T00:00:00Z",
        "validUntil": "2030-01-01T00:00:00Z",
        "credentialSubject": {
            "id": "did:example:learner",
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityHash": "sha256$" + "ab" * 32,
                    "identityType": "emailAddress",
                    "hashed": True,
                    "salt": "pepper",
                }
            ],
            "achievement": {
                "id": "https://example.org/achievements/teamwork",
                "type": ["Achievement"],
                "name": "Teamwork",
                "description": "Works well with others.",
                "criteria": {"narrative": "Nominated by peers."},
                "image": {"id": "https://example.org/teamwork.png", "type": "Image"},
                "inLanguage": "en-GB",
            },
        },
        "evidence": [{"id": "https://example.org/evidence/1", "type": ["Evidence"]}],
        "credentialStatus": {
            "id": "https://example.org/status/1#94567",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "94567",
            "statusListCredential": "https://example.org/status/1",
        },
        "proof": {
            "type": "DataIntegrityProof",
            "cryptosuite": "eddsa-rdfc-2022",
            "created": "2024-01-01T00:00:00Z",
            "verificationMethod": "did:example:issuer#key-1",
            "proofPurpose": "assertionMethod",
            "proofValue": "z3FXQjecWufY46yg5abdVZsXqLhxhueuSoZgNSARiKBk9czhSePTFehP8c3PGfb6a",
        },
    }


def _endorsement() -> dict[str, Any]:
    return {
        "@context": [VC2_CONTEXT, OB_CONTEXT],
        "id": "urn:uuid:0e9c2d4f-5d1b-4f8e-8f7a-2a6c7b1d9e33",
        "type": ["VerifiableCredential", "EndorsementCredential"],
        "name": "Endorsement",
        "issuer": "did:example:endorser",
        "validFrom": "2024-01-01T00:00:00Z",
        "credentialSubject": {"id": "urn:bns:zExample", "type": ["EndorsementSubject"]},
    }


def _split(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, *indexes = part.split("[")
        steps.append(name)
        steps.extend(int(index.rstrip("]")) for index in indexes)
    return steps


def _with(path: str, value: Json = _REMOVE) -> Callable[[dict[str, Any]], Json]:
    def edit(doc: dict[str, Any]) -> Json:
        *parents, last = _split(path)
        target: Any = doc
        for step in parents:
            target = target[step]
        if value is _REMOVE:
            del target[last]
        else:
            target[last] = value
        return doc

    return edit


def _v1(doc: dict[str, Any]) -> dict[str, Any]:
    doc["@context"][0] = VC1_CONTEXT
    doc["issuanceDate"] = doc.pop("validFrom")
    doc["expirationDate"] = doc.pop("validUntil")
    return doc


VC_CASES: list[tuple[str, Callable[[dict[str, Any]], Json], str]] = [
    ("vc_not_object", lambda doc: [doc], ""),
    ("vc_context_missing", _with("@context"), "@context"),
    ("vc_context_missing", _with("@context[0]", "https://example.org/context"), "@context[0]"),
    ("vc_context_invalid", _with("@context", VC2_CONTEXT), "@context"),
    ("vc_context_invalid", _with("@context[1]", 42), "@context[1]"),
    ("vc_type_missing", _with("type"), "type"),
    ("vc_type_missing", _with("type", ["OpenBadgeCredential"]), "type"),
    ("vc_type_invalid", _with("type", ["VerifiableCredential", 7]), "type"),
    ("vc_id_invalid", _with("id", "credential 3732"), "id"),
    ("vc_issuer_missing", _with("issuer"), "issuer"),
    ("vc_issuer_invalid", _with("issuer", "Example College"), "issuer"),
    ("vc_issuer_invalid", _with("issuer.id"), "issuer.id"),
    ("vc_subject_missing", _with("credentialSubject"), "credentialSubject"),
    ("vc_subject_invalid", _with("credentialSubject", []), "credentialSubject"),
    (
        "vc_subject_invalid",
        _with("credentialSubject", [{"id": "did:example:a"}, "b"]),
        "credentialSubject[1]",
    ),
    ("vc_date_missing", lambda doc: _with("issuanceDate")(_v1(doc)), "issuanceDate"),
    ("vc_date_invalid", _with("validFrom", "2024-01-01T00:00:00"), "validFrom"),
    ("vc_date_invalid", _with("validUntil", "2025-02-29T00:00:00Z"), "validUntil"),
    ("vc_date_invalid", _with("validUntil", 1893456000), "validUntil"),
    ("vc_date_order", _with("validUntil", "2023-12-31T23:59:59Z"), "validUntil"),
    (
        "vc_date_order",
        lambda doc: _with("expirationDate", "2020-01-01T00:00:00Z")(_v1(doc)),
        "expirationDate",
    ),
    ("vc_status_invalid", _with("credentialStatus.type"), "credentialStatus.type"),
    (
        "vc_status_invalid",
        _with("credentialStatus", "https://example.org/status"),
        "credentialStatus",
    ),
    ("vc_proof_invalid", _with("proof", "z3FXQjecWufY46yg5abdVZ"), "proof"),
    ("vc_proof_invalid", _with("proof.type", ["DataIntegrityProof"]), "proof.type"),
    ("vc_evidence_invalid", _with("evidence[0].type"), "evidence[0].type"),
    (
        "vc_terms_of_use_invalid",
        _with("termsOfUse", {"id": "https://example.org/tos"}),
        "termsOfUse.type",
    ),
    (
        "vc_refresh_service_invalid",
        _with("refreshService", "https://example.org/r"),
        "refreshService",
    ),
    (
        "vc_credential_schema_invalid",
        _with("credentialSchema", {"type": "JsonSchema"}),
        "credentialSchema.id",
    ),
    ("vc_name_invalid", _with("name", 42), "name"),
    ("vc_name_invalid", _with("description", {"@language": "en"}), "description"),
]

OB_CASES: list[tuple[str, Callable[[dict[str, Any]], Json], str]] = [
    ("ob_not_object", lambda doc: json.dumps(doc), ""),
    ("ob_context_missing", _with("@context"), "@context"),
    ("ob_context_missing", _with("@context", [VC2_CONTEXT]), "@context[1]"),
    (
        "ob_context_missing",
        _with("@context", [VC2_CONTEXT, "https://example.org/c", OB_CONTEXT]),
        "@context[1]",
    ),
    ("ob_context_invalid", _with("@context", [OB_CONTEXT, VC2_CONTEXT]), "@context[0]"),
    ("ob_context_invalid", _with("@context", OB_CONTEXT), "@context"),
    ("ob_context_invalid", _with("@context", [VC2_CONTEXT, OB_CONTEXT, 7]), "@context[2]"),
    ("ob_type_missing", _with("type", ["VerifiableCredential"]), "type"),
    ("ob_type_missing", _with("issuer.type", ["Organization"]), "issuer.type"),
    (
        "ob_type_missing",
        _with("credentialSubject.achievement.image.type", "Picture"),
        "credentialSubject.achievement.image.type",
    ),
    ("ob_field_missing", _with("type"), "type"),
    ("ob_field_missing", _with("id"), "id"),
    ("ob_field_missing", _with("validFrom"), "validFrom"),
    (
        "ob_field_missing",
        _with("credentialSubject.achievement.criteria"),
        "credentialSubject.achievement.criteria",
    ),
    (
        "ob_field_missing",
        _with("credentialSubject.achievement.name"),
        "credentialSubject.achievement.name",
    ),
    ("ob_field_missing", _with("credentialSubject.type", []), "credentialSubject.type"),
    ("ob_field_missing", _with("credentialStatus.id"), "credentialStatus.id"),  # OB: id 1
    ("ob_field_type", _with("evidence", {"type": ["Evidence"]}), "evidence"),
    (
        "ob_field_type",
        _with("credentialSubject.identifier[0].hashed", "true"),
        "credentialSubject.identifier[0].hashed",
    ),
    (
        "ob_field_type",
        _with("credentialSubject.creditsEarned", True),
        "credentialSubject.creditsEarned",
    ),
    ("ob_field_type", _with("credentialSubject", [{"id": "did:example:a"}]), "credentialSubject"),
    (
        "ob_field_type",
        _with("credentialSubject.achievement.image", "https://example.org/a.png"),
        "credentialSubject.achievement.image",
    ),
    ("ob_field_type", _with("issuer", 42), "issuer"),
    (
        "ob_field_type",
        _with("credentialStatus.type", ["BitstringStatusListEntry"]),
        "credentialStatus.type",
    ),
    ("ob_field_format", _with("validFrom", "2024-01-01"), "validFrom"),
    (
        "ob_field_format",
        _with("credentialSubject.achievement.id", "teamwork"),
        "credentialSubject.achievement.id",
    ),
    (
        "ob_field_format",
        _with("credentialSubject.achievement.inLanguage", "en GB"),
        "credentialSubject.achievement.inLanguage",
    ),
    (
        "ob_field_format",
        _with("credentialSubject.activityStartDate", "2024-13-01T00:00:00"),
        "credentialSubject.activityStartDate",
    ),
    (
        "ob_field_format",
        _with("credentialSubject.achievement.endorsementJwt", ["not.a jws"]),
        "credentialSubject.achievement.endorsementJwt[0]",
    ),
    (
        "ob_field_value",
        _with("credentialSubject.achievement.achievementType", "Trophy"),
        "credentialSubject.achievement.achievementType",
    ),
    (
        "ob_field_value",
        _with("credentialSubject.identifier[0].identityType", "email"),
        "credentialSubject.identifier[0].identityType",
    ),
    (
        "ob_field_unexpected",
        _with("credentialSubject.achievement.image.width", 100),
        "credentialSubject.achievement.image.width",
    ),
    (
        "ob_subject_unidentified",
        lambda doc: _with("credentialSubject.identifier")(_with("credentialSubject.id")(doc)),
        "credentialSubject",
    ),
    (
        "ob_identity_hash_invalid",
        _with("credentialSubject.identifier[0].identityHash", "sha256$xyz"),
        "credentialSubject.identifier[0].identityHash",
    ),
]


def _apply(edit: Callable[[dict[str, Any]], Json]) -> Json:
    return edit(_badge())


def test_the_badge_is_valid() -> None:
    assert check_vc_data_model(_badge()) == []
    assert check_ob3_structure(_badge(), strict=True) == []
    assert validate_structure(_badge()) == []
    assert check_ob3_structure(_endorsement()) == []


@pytest.mark.parametrize(
    ("code", "edit", "path"), VC_CASES, ids=[f"{c[0]}-{c[2]}" for c in VC_CASES]
)
def test_vc_problem(code: str, edit: Callable[[dict[str, Any]], Json], path: str) -> None:
    problems = check_vc_data_model(_apply(edit))
    assert (code, path) in {(p.code, p.path) for p in problems}, problems


@pytest.mark.parametrize(
    ("code", "edit", "path"), OB_CASES, ids=[f"{c[0]}-{c[2]}" for c in OB_CASES]
)
def test_ob_problem(code: str, edit: Callable[[dict[str, Any]], Json], path: str) -> None:
    problems = check_ob3_structure(_apply(edit))
    assert (code, path) in {(p.code, p.path) for p in problems}, problems
    assert all(p.message.strip() for p in problems)


def test_endorsement_rules() -> None:
    unnamed = _with("name")(_endorsement())  # name is [1] on EndorsementCredential
    assert ("ob_field_missing", "name") in {(p.code, p.path) for p in check_ob3_structure(unnamed)}
    wrong_subject = _with("credentialSubject.type", ["AchievementSubject"])(_endorsement())
    assert [p.code for p in check_ob3_structure(wrong_subject)] == ["ob_type_missing"]
    nested = _with(
        "issuer",
        {"id": "did:example:i", "type": ["Profile"], "endorsement": [_with("id")(_endorsement())]},
    )
    problems = check_ob3_structure(_apply(nested))
    assert [(p.code, p.path) for p in problems] == [
        ("ob_field_missing", "issuer.endorsement[0].id")
    ]


def test_strict_adds_the_criteria_should() -> None:
    # Criteria: "Implementations SHOULD provide, at least, one of the id or narrative fields."
    doc = _apply(_with("credentialSubject.achievement.criteria", {}))
    assert check_ob3_structure(doc) == []
    strict = check_ob3_structure(doc, strict=True)
    assert [(p.code, p.path) for p in strict] == [
        ("ob_criteria_empty", "credentialSubject.achievement.criteria")
    ]
    assert validate_structure(doc, strict=True) == strict


def test_every_code_has_a_negative_test() -> None:
    # The structure checks are spread over these modules; their codes are the checks' codes.
    source = "".join(
        inspect.getsource(module) for module in (structure, vc_model, lexical, problems)
    )
    codes = set(re.findall(r'"((?:vc|ob)_[a-z_]+)"', source))
    tested = {code for code, _, _ in VC_CASES + OB_CASES} | {"ob_criteria_empty", "ob_too_deep"}
    assert codes == tested
    assert "structure_truncated" in source  # tested by test_problems_are_capped


# -- what the specs allow --------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        _with("issuer.type", "Profile"),  # compacted type
        _with("credentialSubject.achievement.type", "Achievement"),
        _with("proof", [_badge()["proof"], {"type": "SomeProofType"}]),
        _with("issuer", "did:example:issuer"),  # ProfileRef: a URI is enough in VC 2.0
        _with("name"),  # AchievementCredential.name is [0..1] since 2024-04
        _with("credentialSubject.achievement.achievementType", "ext:BadgeChainGenesis"),
        _with("credentialSubject.id"),  # the identifier is enough
        _with(
            "credentialSubject.identifier[0]",
            {
                "type": "IdentityObject",
                "identityHash": "a@example.org",
                "identityType": "emailAddress",
                "hashed": False,
            },
        ),
        _with("validUntil", "2024-01-01T00:00:00Z"),  # the same instant as validFrom
        _with("validFrom", "2024-01-01T10:00:00+10:00"),  # = 00:00Z, before validUntil
        _with(
            "@context",
            [
                VC2_CONTEXT,
                "https://purl.imsglobal.org/spec/ob/v3p0/context.json",
                {"ex": "https://example.org/#"},
            ],
        ),
        _with("credentialSubject.achievement.image.id", "data:image/png;base64,iVBORw0KGgo="),
    ],
)
def test_allowed_forms(edit: Callable[[dict[str, Any]], Json]) -> None:
    assert validate_structure(_apply(edit)) == []


def test_vc_1_1_credentials() -> None:
    assert validate_structure(_v1(_badge())) == []
    unnamed = _with("name")(_v1(_badge()))  # AchievementCredentialv1p1.name is [1]
    assert [(p.code, p.path) for p in check_ob3_structure(unnamed)] == [
        ("ob_field_missing", "name")
    ]
    uri_issuer = _with("issuer", "did:example:issuer")(_v1(_badge()))  # Profilev1p1 [1]: an object
    assert [(p.code, p.path) for p in check_ob3_structure(uri_issuer)] == [
        ("ob_field_type", "issuer")
    ]
    v2_dates = _with("validFrom", "2024-01-01T00:00:00Z")(_with("issuanceDate")(_v1(_badge())))
    assert ("ob_field_missing", "issuanceDate") in {
        (p.code, p.path) for p in check_ob3_structure(v2_dates)
    }


def test_validate_structure_dispatches_and_deduplicates() -> None:
    plain = {
        "@context": [VC2_CONTEXT],
        "type": ["VerifiableCredential"],
        "issuer": "did:example:issuer",
        "credentialSubject": {"id": "did:example:subject"},
    }
    assert not is_open_badge(plain)
    assert validate_structure(plain) == []  # a plain VC is not held to OB 3.0
    assert check_ob3_structure(plain) != []
    problems = validate_structure(_apply(_with("issuer")))
    assert [(p.code, p.path) for p in problems] == [("vc_issuer_missing", "issuer")]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2024-02-29T12:00:00Z", True),
        ("2023-02-29T12:00:00Z", False),
        ("2024-01-01T24:00:00Z", True),
        ("2024-01-01T24:00:01Z", False),
        ("2024-01-01T23:59:60Z", False),
        ("2024-01-01T00:00:00+14:00", True),
        ("2024-01-01T00:00:00+14:30", False),
        ("2024-01-01t00:00:00Z", False),
        ("-0044-03-15T12:00:00Z", True),
        ("12024-01-01T00:00:00.000000000001Z", True),
        ("2024-01-01T00:00:00", False),
        ("2024-01-01 00:00:00Z", False),
    ],
)
def test_date_time_stamps(value: str, ok: bool) -> None:
    assert (parse_date_time(value, zone_required=True) is not None) is ok


def test_instants_compare_across_zones_and_fractions() -> None:
    def at(value: str) -> Any:
        return parse_date_time(value, zone_required=True)

    assert at("2024-01-01T10:00:00+02:00") == at("2024-01-01T08:00:00Z")
    assert at("2024-01-01T00:00:00.5Z") > at("2024-01-01T00:00:00.25Z")
    assert at("2024-01-01T00:00:00.50Z") == at("2024-01-01T00:00:00.5Z")
    assert at("2024-01-01T24:00:00Z") == at("2024-01-02T00:00:00Z")
    assert at("2000-03-01T00:00:00Z") == (951868800, "")
    assert at("-0001-12-31T23:59:59Z") < at("0000-01-01T00:00:00Z")


def _ob_schema_accepts(doc: Json) -> bool:
    return bool(_schema_for(doc).is_valid(_schema_view(doc)))


_NO_SUBJECT_ID = "credentialSubject.identifier", "credentialSubject.id"


@pytest.mark.parametrize(
    ("edit", "checker_accepts", "schema_accepts"),
    [
        # Spec MUSTs the schemas do not express (SPEC_ONLY_CODES).
        pytest.param(
            lambda d: _with(_NO_SUBJECT_ID[0])(_with(_NO_SUBJECT_ID[1])(d)),
            False,
            True,
            id="subject-without-id-or-identifier",
        ),
        pytest.param(
            _with("credentialSubject.identifier[0].identityHash", "a@example.org"),
            False,
            True,
            id="hashed-identity-not-a-hash",
        ),
        # Spec formats that the schemas type as plain strings.
        pytest.param(_with("credentialSubject.achievement.id", "teamwork"), False, True, id="uri"),
        # BCP 47 (spec) is wider than the schema's language pattern.
        pytest.param(
            _with("credentialSubject.achievement.inLanguage", "de-CH-1901"), True, False, id="bcp47"
        ),
        pytest.param(
            _with("credentialSubject.achievement.achievementType", "not-ext:Trophy"),
            False,
            True,
            id="extension-term",
        ),
        # DateTime (spec: zone optional) against format date-time (zone required).
        pytest.param(
            _with("credentialSubject.activityStartDate", "2024-01-01T09:00:00"),
            True,
            False,
            id="date-time-without-zone",
        ),
        # A VC rule, checked by check_vc_data_model.
        pytest.param(_with("validUntil", "2023-01-01T00:00:00Z"), False, True, id="date-order"),
        # Spec and schema agree where a reader might expect otherwise.
        pytest.param(_with("name"), True, True, id="credential-name-optional-since-2024-04"),
        pytest.param(_with("issuer", "did:example:issuer"), True, True, id="issuer-profile-ref"),
        pytest.param(
            _with("credentialSubject.achievement.criteria", {}), True, True, id="criteria-should"
        ),
        pytest.param(_with("evidence", []), True, True, id="empty-array-is-no-value"),
    ],
)
def test_documented_differences_are_real(
    shared_dir: Path,
    edit: Callable[[dict[str, Any]], Json],
    checker_accepts: bool,
    schema_accepts: bool,
) -> None:
    doc = _apply(edit)
    assert (validate_structure(doc) == []) is checker_accepts
    assert _ob_schema_accepts(doc) is schema_accepts


# -- totality ------------------------------------------------------------------------------


def test_deep_nesting_is_cut_off() -> None:
    issuer: dict[str, Any] = {"id": "did:example:0", "type": ["Profile"]}
    for level in range(1, 5000):
        issuer = {"id": f"did:example:{level}", "type": ["Profile"], "parentOrg": issuer}
    problems = check_ob3_structure(_apply(_with("issuer", issuer)))
    assert [p.code for p in problems] == ["ob_too_deep"]
    assert problems[0].path.count("parentOrg") == MAX_DEPTH


def test_cycles_end() -> None:
    doc = _badge()
    doc["issuer"]["parentOrg"] = doc["issuer"]
    endorsement = _endorsement()
    endorsement["issuer"] = {
        "id": "did:example:e",
        "type": ["Profile"],
        "endorsement": [endorsement],
    }
    doc["endorsement"] = [endorsement]
    assert {p.code for p in check_ob3_structure(doc)} == {"ob_too_deep"}
    assert check_vc_data_model(doc) == []


def test_problems_are_capped() -> None:
    doc = _apply(_with("evidence", [{"id": 1}] * 1000))
    problems = check_ob3_structure(doc)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].code == "structure_truncated"
    assert len(check_vc_data_model(doc)) == MAX_PROBLEMS + 1


_KEYS = sorted(
    {name for cls in ob3_classes.CLASSES.values() for name in cls.fields}
    | {
        "@context",
        "credentialSubject",
        "issuer",
        "validFrom",
        "issuanceDate",
        "proof",
        "endorsement",
    }
)
_SCALAR_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(
        [VC2_CONTEXT, VC1_CONTEXT, OB_CONTEXT, "Profile", "2024-01-01T00:00:00Z", "sha256$00"]
    )
)
_JSON = st.recursive(
    _SCALAR_VALUES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=5), inner, max_size=6)
    ),
    max_leaves=40,
)


def _assert_problems(problems: object) -> None:
    assert isinstance(problems, list)
    assert all(
        isinstance(p, Problem) and isinstance(p.code, str) and isinstance(p.path, str)
        for p in problems
    )


@settings(
    max_examples=200, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(_JSON)
def test_any_json_gives_problems_not_exceptions(doc: Json) -> None:
    _assert_problems(check_vc_data_model(doc))
    _assert_problems(check_ob3_structure(doc, strict=True))
    _assert_problems(validate_structure(doc))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.sampled_from([p for p, _ in _objects_in(_badge())]), st.sampled_from(_KEYS), _JSON)
def test_junk_anywhere_in_a_badge_gives_problems_not_exceptions(
    path: Path_, key: str, junk: Json
) -> None:
    doc = _edited(_badge(), path, key, junk)
    _assert_problems(validate_structure(doc, strict=True))
    _assert_problems(check_ob3_structure(doc))
