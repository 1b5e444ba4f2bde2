"""Structural checks of a credential against the W3C VC Data Model (2.0, and 1.1 where it
differs) and the Open Badges 3.0 data model: a JSON value in, a list of `Problem`s out.
Pure and total: bad input of any shape gives problems, never an exception.
The VC checks are chain.vc_model's and the OB 3.0 classes chain.ob3_classes' table: this
module walks a credential through that table, and is where callers import all of it from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from .lexical import Instant, is_uri, parse_date_time, strings_of
from .ob3_classes import CLASSES, CREDENTIAL_FIELDS, SCALARS, Field, ObClass
from .problems import MAX_PROBLEMS, ROOT, Problem, ProblemList, at_index, at_key
from .vc_model import VC1_CONTEXT, VC2_CONTEXT, check_vc_data_model

__all__ = [
    "MAX_DEPTH",
    "MAX_PROBLEMS",
    "OB_CONTEXT_PATTERN",
    "VC1_CONTEXT",
    "VC2_CONTEXT",
    "Instant",
    "Problem",
    "check_ob3_structure",
    "check_vc_data_model",
    "is_open_badge",
    "parse_date_time",
    "validate_structure",
]

# OB 3.0 §B (AchievementCredential.@context): the second item matches this; it covers the
# alias `context.json` and the versioned `context-3.0.x.json` files.
OB_CONTEXT_PATTERN: Final = re.compile(
    r"https://purl\.imsglobal\.org/spec/ob/v3p0/context(?:-3\.\d\.\d)*\.json"
)
MAX_DEPTH: Final = 32  # nested objects walked before giving up (endorsements nest without end)

_OB_ACHIEVEMENT_TYPES: Final = ("AchievementCredential", "OpenBadgeCredential")
_OB_ENDORSEMENT_TYPE: Final = "EndorsementCredential"
# OB 3.0 IdentityHash: "md5" or "sha256", "$", and the hex digest.
_IDENTITY_HASH = re.compile(r"md5\$[0-9a-fA-F]{32}|sha256\$[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class _Walk:
    report: ProblemList
    version: int  # VC data model under the credential: 2, or 1 for the legacy v1p1 classes
    strict: bool


def check_ob3_structure(doc: object, *, strict: bool = False) -> list[Problem]:
    """Problems of `doc` as an OB 3.0 AchievementCredential/OpenBadgeCredential, or as an
    EndorsementCredential when its type says so. VC 1.1-based credentials (the spec's
    AchievementCredentialv1p1 classes) are accepted. `strict` adds the spec's SHOULDs."""
    report = ProblemList()
    if not isinstance(doc, dict):
        report.add("ob_not_object", ROOT, "a credential must be a JSON object")
        return report.result()
    context = doc.get("@context")
    first = context[0] if isinstance(context, list) and context else None
    walk = _Walk(report, 1 if first == VC1_CONTEXT else 2, strict)
    names = strings_of(doc.get("type")) or []
    _check_credential(doc, ROOT, walk, 0, endorsement=_OB_ENDORSEMENT_TYPE in names)
    return report.result()


def _check_credential(
    doc: object, path: str, walk: _Walk, depth: int, *, endorsement: bool
) -> None:
    if not isinstance(doc, dict):
        walk.report.add("ob_field_type", path, "must be a credential object")
        return
    _check_ob_context(doc, path, walk)
    _check_credential_type(doc, path, walk.report, endorsement=endorsement)
    fields = CREDENTIAL_FIELDS[walk.version, endorsement]
    for name, spec in fields.items():
        _check_field(doc, name, spec, path, walk, depth)


def _check_ob_context(doc: dict[object, object], path: str, walk: _Walk) -> None:
    # OB 3.0 §B AchievementCredential.@context: an ordered set, the VC context first
    # (v2, or v1 for the v1p1 classes) and the OB context second; the rest URIs or maps.
    where = at_key(path, "@context")
    context = doc.get("@context")
    if not isinstance(context, list):
        code = "ob_context_missing" if context is None else "ob_context_invalid"
        walk.report.add(
            code, where, "@context must be an array: the VC context, then the OB 3.0 context"
        )
        return
    base = VC1_CONTEXT if walk.version == 1 else VC2_CONTEXT
    if not context or context[0] != base:
        walk.report.add(
            "ob_context_invalid", at_index(where, 0), f"the first @context item must be {base}"
        )
    if len(context) < 2 or not (
        isinstance(context[1], str) and OB_CONTEXT_PATTERN.fullmatch(context[1])
    ):
        elsewhere = any(
            isinstance(item, str) and OB_CONTEXT_PATTERN.fullmatch(item) for item in context
        )
        message = "must be the second @context item" if elsewhere else "is missing from @context"
        walk.report.add("ob_context_missing", at_index(where, 1), f"the OB 3.0 context {message}")
    for index, item in enumerate(context[2:], start=2):
        if not isinstance(item, str | dict):
            walk.report.add(
                "ob_context_invalid", at_index(where, index), "must be a URI or a context object"
            )


def _check_credential_type(
    doc: dict[object, object], path: str, report: ProblemList, *, endorsement: bool
) -> None:
    where = at_key(path, "type")
    if "type" not in doc:
        report.add("ob_field_missing", where, "type is required")
        return
    value = doc["type"]
    names = strings_of(value)
    if names is None or (isinstance(value, list) and len(names) != len(value)):
        report.add("ob_field_type", where, "type must be an array of strings")
    names = names or []
    wanted = (_OB_ENDORSEMENT_TYPE,) if endorsement else _OB_ACHIEVEMENT_TYPES
    if "VerifiableCredential" not in names or not any(name in names for name in wanted):
        kinds = " or ".join(wanted)
        report.add("ob_type_missing", where, f"type must include VerifiableCredential and {kinds}")


def _check_field(
    obj: dict[object, object], name: str, spec: Field, path: str, walk: _Walk, depth: int
) -> None:
    where = at_key(path, name)
    if name not in obj:
        if spec.required:
            walk.report.add("ob_field_missing", where, f"{name} is required")
        return
    value = obj[name]
    if not spec.many or (spec.compact and not isinstance(value, list)):
        _check_value(value, spec.kind, where, walk, depth)
    elif not isinstance(value, list):
        walk.report.add("ob_field_type", where, f"{name} must be an array")
    elif spec.required and not value:
        walk.report.add("ob_field_missing", where, f"{name} must not be empty")
    else:
        for index, item in enumerate(value):
            _check_value(item, spec.kind, at_index(where, index), walk, depth)


def _check_value(value: object, kind: str, path: str, walk: _Walk, depth: int) -> None:
    scalar = SCALARS.get(kind)
    if scalar is not None:
        outcome = scalar(value)
        if outcome is not None:
            walk.report.add(outcome[0], path, f"{path.rsplit('.', 1)[-1]} {outcome[1]}")
    elif kind == "ProfileRef" and not isinstance(value, dict):
        if not is_uri(value):
            walk.report.add("ob_field_type", path, "issuer must be a URI or a Profile object")
    elif depth >= MAX_DEPTH:
        walk.report.add("ob_too_deep", path, f"objects are nested more than {MAX_DEPTH} deep")
    elif kind == "Endorsement":
        _check_credential(value, path, walk, depth + 1, endorsement=True)
    else:
        _check_object(
            value, CLASSES["Profile" if kind == "ProfileRef" else kind], path, walk, depth + 1
        )


def _check_object(value: object, cls: ObClass, path: str, walk: _Walk, depth: int) -> None:
    if not isinstance(value, dict):
        walk.report.add("ob_field_type", path, f"must be an object ({cls.name})")
        return
    for name, spec in cls.fields.items():
        _check_field(value, name, spec, path, walk, depth)
    if cls.type_names:
        _check_class_type(value, cls, path, walk.report)
    if cls.closed:
        for key in value:
            if key not in cls.fields:
                name = key[:100] if isinstance(key, str) else "(a non-string key)"
                walk.report.add(
                    "ob_field_unexpected", at_key(path, name), f"{cls.name} has no such property"
                )
    _CLASS_RULES.get(cls.name, _no_rule)(value, path, walk)


def _check_class_type(
    value: dict[object, object], cls: ObClass, path: str, report: ProblemList
) -> None:
    names = strings_of(value.get("type"))
    if names is not None and not any(name in names for name in cls.type_names):
        report.add(
            "ob_type_missing", at_key(path, "type"), f"type must include {cls.type_names[0]}"
        )


def _no_rule(value: dict[object, object], path: str, walk: _Walk) -> None:
    return None


def _subject_rule(value: dict[object, object], path: str, walk: _Walk) -> None:
    # AchievementSubject: "Either id or at least one identifier MUST be supplied."
    identifiers = value.get("identifier")
    if "id" not in value and not (isinstance(identifiers, list) and identifiers):
        walk.report.add(
            "ob_subject_unidentified", path, "the subject needs an id or at least one identifier"
        )


def _identity_rule(value: dict[object, object], path: str, walk: _Walk) -> None:
    # IdentityObject: a hashed identityHash is an IdentityHash, "md5$…" or "sha256$…" in hex.
    digest = value.get("identityHash")
    if (
        value.get("hashed") is True
        and isinstance(digest, str)
        and not _IDENTITY_HASH.fullmatch(digest)
    ):
        message = "a hashed identityHash must be md5$ or sha256$ followed by the hex digest"
        walk.report.add("ob_identity_hash_invalid", at_key(path, "identityHash"), message)


def _criteria_rule(value: dict[object, object], path: str, walk: _Walk) -> None:
    # Criteria: "Implementations SHOULD provide, at least, one of the id or narrative fields."
    if walk.strict and "id" not in value and "narrative" not in value:
        walk.report.add("ob_criteria_empty", path, "criteria should have an id or a narrative")


_CLASS_RULES: Final[Mapping[str, Callable[[dict[object, object], str, _Walk], None]]] = {
    "AchievementSubject": _subject_rule,
    "IdentityObject": _identity_rule,
    "Criteria": _criteria_rule,
}


# -- both ----------------------------------------------------------------------------------


def is_open_badge(doc: object) -> bool:
    """Whether `doc` presents itself as an OB 3.0 credential (by type or by context)."""
    if not isinstance(doc, dict):
        return False
    names = strings_of(doc.get("type")) or []
    if any(name in names for name in (*_OB_ACHIEVEMENT_TYPES, _OB_ENDORSEMENT_TYPE)):
        return True
    context = doc.get("@context")
    items = context if isinstance(context, list) else [context]
    return any(isinstance(item, str) and OB_CONTEXT_PATTERN.fullmatch(item) for item in items)


def validate_structure(doc: object, *, strict: bool = False) -> list[Problem]:
    """VC data model problems, then OB 3.0 ones when `doc` is an Open Badge; an OB problem
    at a path the VC check already reported is left out."""
    problems = check_vc_data_model(doc)
    if not is_open_badge(doc):
        return problems
    seen = {problem.path for problem in problems}
    return problems + [p for p in check_ob3_structure(doc, strict=strict) if p.path not in seen]
