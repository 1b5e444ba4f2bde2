"""Structural checks of a credential against the W3C VC Data Model (2.0, and 1.1 where it
differs): a JSON value in, a list of `Problem`s out. Pure and total."""

from __future__ import annotations

from typing import Final

from .lexical import Instant, is_uri, objects_of, parse_date_time, strings_of
from .problems import ROOT, Problem, ProblemList, at_index, at_key

__all__ = ["VC1_CONTEXT", "VC2_CONTEXT", "check_vc_data_model"]

VC2_CONTEXT: Final = "https://www.w3.org/ns/credentials/v2"
VC1_CONTEXT: Final = "https://www.w3.org/2018/credentials/v1"


def check_vc_data_model(doc: object) -> list[Problem]:
    """Problems of `doc` as a VC Data Model 2.0 credential (or 1.1, when its first context
    is `https://www.w3.org/2018/credentials/v1`)."""
    report = ProblemList()
    if not isinstance(doc, dict):
        report.add("vc_not_object", ROOT, "a credential must be a JSON object")
        return report.result()
    version = _vc_context(doc, report)
    _vc_type(doc, report)
    if "id" in doc and not is_uri(doc["id"]):
        report.add("vc_id_invalid", "id", "the credential id must be a URL")
    _vc_issuer(doc, report)
    _vc_subject(doc, report)
    _vc_dates(doc, version, report)
    for name, code, id_required in _vc_typed_members(version):
        if name in doc:
            _vc_typed_objects(doc[name], name, code, id_required, report)
    for name in ("name", "description"):
        if name in doc and not _is_language_text(doc[name]):
            report.add(
                "vc_name_invalid", name, f"{name} must be a string or language value objects"
            )
    return report.result()


def _vc_context(doc: dict[object, object], report: ProblemList) -> int:
    """Check `@context` (VC 2.0 §4.3, VC 1.1 §4.1); return the data model version, 1 or 2."""
    if "@context" not in doc:
        report.add("vc_context_missing", "@context", "@context is required")
        return 2
    context = doc["@context"]
    if not isinstance(context, list) or not context:
        report.add("vc_context_invalid", "@context", "@context must be a non-empty array")
        return 2
    if context[0] not in (VC2_CONTEXT, VC1_CONTEXT):
        message = f"the first @context item must be {VC2_CONTEXT} (or {VC1_CONTEXT})"
        report.add("vc_context_missing", "@context[0]", message)
    for index, item in enumerate(context[1:], start=1):
        if not (is_uri(item) or isinstance(item, dict)):
            report.add(
                "vc_context_invalid",
                at_index("@context", index),
                "must be a URL or a context object",
            )
    return 1 if context[0] == VC1_CONTEXT else 2


def _vc_type(doc: dict[object, object], report: ProblemList) -> None:
    # VC 2.0 §4.5: one or more terms or URLs, one of them VerifiableCredential.
    if "type" not in doc:
        report.add("vc_type_missing", "type", "type is required")
        return
    value = doc["type"]
    names = strings_of(value)
    if names is None or not names or (isinstance(value, list) and len(names) != len(value)):
        report.add(
            "vc_type_invalid", "type", "type must be a string or a non-empty array of strings"
        )
    if names is not None and "VerifiableCredential" not in names:
        report.add("vc_type_missing", "type", "type must include VerifiableCredential")


def _vc_issuer(doc: dict[object, object], report: ProblemList) -> None:
    # VC 2.0 §4.7: a URL, or an object whose id is a URL.
    if "issuer" not in doc:
        report.add("vc_issuer_missing", "issuer", "issuer is required")
        return
    issuer = doc["issuer"]
    if isinstance(issuer, dict):
        if not is_uri(issuer.get("id")):
            report.add(
                "vc_issuer_invalid", "issuer.id", "the issuer object must have an id that is a URL"
            )
    elif not is_uri(issuer):
        report.add("vc_issuer_invalid", "issuer", "issuer must be a URL or an object with an id")


def _vc_subject(doc: dict[object, object], report: ProblemList) -> None:
    # VC 2.0 §4.8: one object or a set of objects, each holding at least one claim.
    if "credentialSubject" not in doc:
        report.add("vc_subject_missing", "credentialSubject", "credentialSubject is required")
        return
    subjects = objects_of(doc["credentialSubject"])
    if not subjects:
        message = "credentialSubject must be an object or a non-empty array of objects"
        report.add("vc_subject_invalid", "credentialSubject", message)
        return
    many = isinstance(doc["credentialSubject"], list)
    for index, subject in enumerate(subjects):
        path = at_index("credentialSubject", index) if many else "credentialSubject"
        if not isinstance(subject, dict) or not subject:
            report.add("vc_subject_invalid", path, "each subject must be an object with claims")
        elif "id" in subject and not is_uri(subject["id"]):
            report.add("vc_subject_invalid", at_key(path, "id"), "the subject id must be a URL")


def _vc_dates(doc: dict[object, object], version: int, report: ProblemList) -> None:
    # VC 2.0 §4.9 (validFrom/validUntil, both optional); VC 1.1 §4.6-4.7 (issuanceDate
    # required, expirationDate optional). Each is a date-time with a zone; the end is not
    # before the start.
    start_name, end_name = (
        ("issuanceDate", "expirationDate") if version == 1 else ("validFrom", "validUntil")
    )
    if version == 1 and start_name not in doc:
        report.add("vc_date_missing", start_name, f"{start_name} is required by VC 1.1")
    start, end = (_vc_instant(doc, name, report) for name in (start_name, end_name))
    if start is not None and end is not None and end < start:
        report.add("vc_date_order", end_name, f"{end_name} is earlier than {start_name}")


def _vc_instant(doc: dict[object, object], name: str, report: ProblemList) -> Instant | None:
    if name not in doc:
        return None
    value = doc[name]
    instant = parse_date_time(value, zone_required=True) if isinstance(value, str) else None
    if instant is None:
        report.add("vc_date_invalid", name, f"{name} must be a date-time with a time zone")
    return instant


def _vc_typed_members(version: int) -> tuple[tuple[str, str, bool], ...]:
    # (property, problem code, id required). Every object must have a type (VC 2.0 §4.5
    # table; VC Data Integrity §2.1 for proofs); VC 1.1 also requires ids on some.
    return (
        ("credentialStatus", "vc_status_invalid", version == 1),
        ("proof", "vc_proof_invalid", False),
        ("evidence", "vc_evidence_invalid", False),
        ("termsOfUse", "vc_terms_of_use_invalid", False),
        ("refreshService", "vc_refresh_service_invalid", version == 1),
        ("credentialSchema", "vc_credential_schema_invalid", True),
    )


def _vc_typed_objects(
    value: object, name: str, code: str, id_required: bool, report: ProblemList
) -> None:
    items = objects_of(value)
    if items is None:
        report.add(code, name, f"{name} must be an object or an array of objects")
        return
    for index, item in enumerate(items):
        path = at_index(name, index) if isinstance(value, list) else name
        if not isinstance(item, dict):
            report.add(code, path, f"each {name} entry must be an object")
            continue
        if not _is_type_value(item.get("type"), single=name == "proof"):
            report.add(code, at_key(path, "type"), f"each {name} entry must have a type")
        if (id_required or "id" in item) and not is_uri(item.get("id")):
            report.add(code, at_key(path, "id"), f"the {name} id must be a URL")


def _is_type_value(value: object, *, single: bool) -> bool:
    if isinstance(value, str):
        return bool(value)
    if single or not isinstance(value, list) or not value:
        return False
    return all(isinstance(item, str) and item for item in value)


def _is_language_text(value: object) -> bool:
    # VC 2.0 §4.6: a string, a language value object, or an array of language value objects.
    if isinstance(value, str):
        return True
    values = value if isinstance(value, list) else [value]
    return all(_is_language_value(item) for item in values)


def _is_language_value(value: object) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("@value"), str):
        return False
    return all(isinstance(value.get(key, ""), str) for key in ("@language", "@direction"))
