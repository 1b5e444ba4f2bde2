"""Structural checks of a credential against the W3C VC Data Model (2.0, and 1.1 where it
differs) and the Open Badges 3.0 data model: a JSON value in, a list of `Problem`s out.
Pure and total: bad input of any shape gives problems, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

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

VC2_CONTEXT: Final = "https://www.w3.org/ns/credentials/v2"
VC1_CONTEXT: Final = "https://www.w3.org/2018/credentials/v1"
# OB 3.0 §B (AchievementCredential.@context): the second item matches this; it covers the
# alias `context.json` and the versioned `context-3.0.x.json` files.
OB_CONTEXT_PATTERN: Final = re.compile(
    r"https://purl\.imsglobal\.org/spec/ob/v3p0/context(?:-3\.\d\.\d)*\.json"
)
MAX_DEPTH: Final = 32  # nested objects walked before giving up (endorsements nest without end)
MAX_PROBLEMS: Final = 100  # a hostile document cannot make the report unbounded

_OB_ACHIEVEMENT_TYPES: Final = ("AchievementCredential", "OpenBadgeCredential")
_OB_ENDORSEMENT_TYPE: Final = "EndorsementCredential"
_ROOT: Final = ""


@dataclass(frozen=True, slots=True)
class Problem:
    """One structural defect: a stable `code`, where (`credentialSubject.achievement.name`,
    `evidence[0].type`; "" is the document itself) and a plain-English `message`."""

    code: str
    path: str
    message: str


class _Report:
    """Collects problems up to MAX_PROBLEMS."""

    __slots__ = ("problems", "truncated")

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.truncated = False

    def add(self, code: str, path: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(code, path, message))
        else:
            self.truncated = True

    def result(self) -> list[Problem]:
        if self.truncated:
            note = f"more than {MAX_PROBLEMS} problems; the rest are not listed"
            return [*self.problems, Problem("structure_truncated", _ROOT, note)]
        return list(self.problems)


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _item(path: str, index: int) -> str:
    return f"{path}[{index}]"


# -- lexical forms -------------------------------------------------------------------------

# XML Schema 1.1 dateTime (VC 2.0 §4.9 wants dateTimeStamp: the same with a mandatory zone).
# Years are limited to 9 digits so that they stay small integers.
_DATE_TIME = re.compile(
    r"(-?(?:[1-9][0-9]{3,8}|0[0-9]{3}))-([0-9]{2})-([0-9]{2})"
    r"T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_DATE = re.compile(r"(-?(?:[1-9][0-9]{3,8}|0[0-9]{3}))-([0-9]{2})-([0-9]{2})")
# RFC 3986 absolute URI (IRIs allowed): a scheme, a colon, and no space, quote or control.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]*")
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")  # BCP 47, well-formed enough
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+")  # OB 3.0 CompactJws
# OB 3.0 IdentityHash: "md5" or "sha256", "$", and the hex digest.
_IDENTITY_HASH = re.compile(r"md5\$[0-9a-fA-F]{32}|sha256\$[0-9a-fA-F]{64}")
_EXTENSION_TERM = re.compile(r"ext:[A-Za-z0-9._-]+")  # OB 3.0 "Extending Enumerated Vocabularies"
_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")  # ISO 3166-1 alpha-2

Instant = tuple[int, str]  # seconds since 1970-01-01T00:00:00Z, then the fraction's digits


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year."""
    if month <= 2:
        year -= 1  # count from March, so that the leap day ends the year
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _valid_day(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return day <= days


def _zone_minutes(zone: str) -> int | None:
    if zone == "Z":
        return 0
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if minutes > 59 or hours > 14 or (hours == 14 and minutes):
        return None
    return (hours * 60 + minutes) * (-1 if zone[0] == "-" else 1)


def parse_date_time(value: str, *, zone_required: bool) -> Instant | None:
    """The instant of an XML Schema dateTime (dateTimeStamp when `zone_required`), or None.
    A value without a zone is placed at UTC; it is only compared when zones are required."""
    match = _DATE_TIME.fullmatch(value)
    if match is None or (zone_required and match[8] is None):
        return None
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    fraction = (match[7] or "").rstrip("0")
    end_of_day = (hour, minute, second, fraction) == (24, 0, 0, "")  # XSD 1.1 allows 24:00:00
    if not _valid_day(year, month, day) or minute > 59 or second > 59:
        return None
    if hour > 23 and not end_of_day:
        return None
    zone = _zone_minutes(match[8]) if match[8] else 0
    if zone is None:
        return None
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return seconds - zone * 60, fraction


def _is_date(value: str) -> bool:
    match = _DATE.fullmatch(value)
    return match is not None and _valid_day(int(match[1]), int(match[2]), int(match[3]))


def _is_uri(value: object) -> bool:
    return isinstance(value, str) and _URI.fullmatch(value) is not None


def _strings(value: object) -> list[str] | None:
    """A `type`-like value as a list of its strings; None when it is neither string nor list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return None


def _objects(value: object) -> list[object] | None:
    """An "object or set of objects" value as a list; None when it is neither. An empty
    array is an empty set: in JSON-LD it is the same as leaving the property out."""
    if isinstance(value, dict):
        return [value]
    return list(value) if isinstance(value, list) else None


# -- W3C Verifiable Credentials Data Model -------------------------------------------------


def check_vc_data_model(doc: object) -> list[Problem]:
    """Problems of `doc` as a VC Data Model 2.0 credential (or 1.1, when its first context
    is `https://www.w3.org/2018/credentials/v1`)."""
    report = _Report()
    if not isinstance(doc, dict):
        report.add("vc_not_object", _ROOT, "a credential must be a JSON object")
        return report.result()
    version = _vc_context(doc, report)
    _vc_type(doc, report)
    if "id" in doc and not _is_uri(doc["id"]):
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


def _vc_context(doc: dict[object, object], report: _Report) -> int:
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
        if not (_is_uri(item) or isinstance(item, dict)):
            report.add(
                "vc_context_invalid", _item("@context", index), "must be a URL or a context object"
            )
    return 1 if context[0] == VC1_CONTEXT else 2


def _vc_type(doc: dict[object, object], report: _Report) -> None:
    # VC 2.0 §4.5: one or more terms or URLs, one of them VerifiableCredential.
    if "type" not in doc:
        report.add("vc_type_missing", "type", "type is required")
        return
    value = doc["type"]
    names = _strings(value)
    if names is None or not names or (isinstance(value, list) and len(names) != len(value)):
        report.add(
            "vc_type_invalid", "type", "type must be a string or a non-empty array of strings"
        )
    if names is not None and "VerifiableCredential" not in names:
        report.add("vc_type_missing", "type", "type must include VerifiableCredential")


def _vc_issuer(doc: dict[object, object], report: _Report) -> None:
    # VC 2.0 §4.7: a URL, or an object whose id is a URL.
    if "issuer" not in doc:
        report.add("vc_issuer_missing", "issuer", "issuer is required")
        return
    issuer = doc["issuer"]
    if isinstance(issuer, dict):
        if not _is_uri(issuer.get("id")):
            report.add(
                "vc_issuer_invalid", "issuer.id", "the issuer object must have an id that is a URL"
            )
    elif not _is_uri(issuer):
        report.add("vc_issuer_invalid", "issuer", "issuer must be a URL or an object with an id")


def _vc_subject(doc: dict[object, object], report: _Report) -> None:
    # VC 2.0 §4.8: one object or a set of objects, each holding at least one claim.
    if "credentialSubject" not in doc:
        report.add("vc_subject_missing", "credentialSubject", "credentialSubject is required")
        return
    subjects = _objects(doc["credentialSubject"])
    if not subjects:
        message = "credentialSubject must be an object or a non-empty array of objects"
        report.add("vc_subject_invalid", "credentialSubject", message)
        return
    many = isinstance(doc["credentialSubject"], list)
    for index, subject in enumerate(subjects):
        path = _item("credentialSubject", index) if many else "credentialSubject"
        if not isinstance(subject, dict) or not subject:
            report.add("vc_subject_invalid", path, "each subject must be an object with claims")
        elif "id" in subject and not _is_uri(subject["id"]):
            report.add("vc_subject_invalid", _at(path, "id"), "the subject id must be a URL")


def _vc_dates(doc: dict[object, object], version: int, report: _Report) -> None:
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


def _vc_instant(doc: dict[object, object], name: str, report: _Report) -> Instant | None:
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
    value: object, name: str, code: str, id_required: bool, report: _Report
) -> None:
    items = _objects(value)
    if items is None:
        report.add(code, name, f"{name} must be an object or an array of objects")
        return
    for index, item in enumerate(items):
        path = _item(name, index) if isinstance(value, list) else name
        if not isinstance(item, dict):
            report.add(code, path, f"each {name} entry must be an object")
            continue
        if not _is_type_value(item.get("type"), single=name == "proof"):
            report.add(code, _at(path, "type"), f"each {name} entry must have a type")
        if (id_required or "id" in item) and not _is_uri(item.get("id")):
            report.add(code, _at(path, "id"), f"the {name} id must be a URL")


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


# -- Open Badges 3.0 data model ------------------------------------------------------------
#
# The classes below transcribe OB 3.0 Appendix B (org.1edtech.ob.v3p0.model) and the
# shared credential models: property names, their types and their multiplicities. A
# "compact" property is one the spec's "Compacted document form" table lets hold a single
# value instead of an array.


@dataclass(frozen=True, slots=True)
class _Field:
    kind: str  # a scalar kind of _SCALARS, a class of _CLASSES, or ProfileRef / Endorsement
    required: bool = False
    many: bool = False  # an unordered set: a JSON array
    compact: bool = False  # ...or a single value


@dataclass(frozen=True, slots=True)
class _Class:
    name: str
    fields: Mapping[str, _Field]
    type_names: tuple[str, ...] = ()  # `type` must include (or be) one of these
    closed: bool = False  # no properties beyond `fields` (the class has no Extensions mixin)


@dataclass(frozen=True, slots=True)
class _Walk:
    report: _Report
    version: int  # VC data model under the credential: 2, or 1 for the legacy v1p1 classes
    strict: bool


_REQ = _Field("String", required=True)
_STR = _Field("String")
_URI_REQ = _Field("URI", required=True)
_URI_OPT = _Field("URI")
_TYPE_SET = _Field("IRI", required=True, many=True, compact=True)  # IRI 1..* array-compacted
_TYPE_ONE = _Field("IRI", required=True)  # IRI 1
_ENDORSEMENTS = _Field("Endorsement", many=True)
_JWS_LIST = _Field("CompactJws", many=True)


def _terms(words: str) -> frozenset[str]:
    """A vocabulary written as space-separated words."""
    return frozenset(words.split())


def _strings_named(words: str) -> dict[str, _Field]:
    """Optional String properties named by space-separated words."""
    return dict.fromkeys(words.split(), _STR)


_ACHIEVEMENT_TYPES = _terms(
    "Achievement ApprenticeshipCertificate Assessment Assignment AssociateDegree Award Badge "
    "BachelorDegree Certificate CertificateOfCompletion Certification CommunityService "
    "Competency Course CoCurricular Degree Diploma DoctoralDegree Fieldwork "
    "GeneralEducationDevelopment JourneymanCertificate LearningProgram License Membership "
    "ProfessionalDoctorate QualityAssuranceCredential MasterCertificate MasterDegree "
    "MicroCredential ResearchDoctorate SecondarySchoolDiploma"
)
_ALIGNMENT_TARGET_TYPES = _terms(
    "ceasn:Competency ceterms:Credential CFItem CFRubric CFRubricCriterion "
    "CFRubricCriterionLevel CTDL"
)
_IDENTIFIER_TYPES = _terms(
    "name sourcedId systemId productId userName accountId emailAddress nationalIdentityNumber "
    "isbn issn lisSourcedId oneRosterSourcedId sisSourcedId ltiContextId ltiDeploymentId "
    "ltiToolId ltiPlatformId ltiUserId identifier"
)
_RESULT_TYPES = _terms(
    "GradePointAverage LetterGrade Percent PerformanceLevel PredictedScore RawScore Result "
    "RubricCriterion RubricCriterionLevel RubricScore ScaledScore Status"
)
_RESULT_STATUSES = _terms("Completed Enrolled Failed InProgress OnHold Provisional Withdrew")

Outcome = tuple[str, str] | None  # (code, message) of a scalar that fails, or None


def _kind_string(value: object) -> Outcome:
    return None if isinstance(value, str) else ("ob_field_type", "must be a string")


def _kind_iri(value: object) -> Outcome:
    if not isinstance(value, str):
        return "ob_field_type", "must be a string"
    return None if value else ("ob_field_format", "must not be empty")


def _kind_pattern(pattern: re.Pattern[str], what: str) -> Callable[[object], Outcome]:
    def check(value: object) -> Outcome:
        if not isinstance(value, str):
            return "ob_field_type", "must be a string"
        return None if pattern.fullmatch(value) else ("ob_field_format", f"must be {what}")

    return check


def _kind_date_time(*, zone_required: bool) -> Callable[[object], Outcome]:
    what = "a date-time with a time zone" if zone_required else "a date-time"

    def check(value: object) -> Outcome:
        if not isinstance(value, str):
            return "ob_field_type", "must be a string"
        ok = parse_date_time(value, zone_required=zone_required) is not None
        return None if ok else ("ob_field_format", f"must be {what}")

    return check


def _kind_date(value: object) -> Outcome:
    if not isinstance(value, str):
        return "ob_field_type", "must be a string"
    return None if _is_date(value) else ("ob_field_format", "must be a date (YYYY-MM-DD)")


def _kind_float(value: object) -> Outcome:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return None if ok else ("ob_field_type", "must be a number")


def _kind_bool(value: object) -> Outcome:
    return None if isinstance(value, bool) else ("ob_field_type", "must be true or false")


def _kind_enum(terms: frozenset[str], *, extensible: bool) -> Callable[[object], Outcome]:
    def check(value: object) -> Outcome:
        if not isinstance(value, str):
            return "ob_field_type", "must be a string"
        if value in terms or (extensible and _EXTENSION_TERM.fullmatch(value)):
            return None
        more = " or an extension term ext:Name" if extensible else ""
        return "ob_field_value", f"{value[:60]!r} is not a term of the vocabulary{more}"

    return check


_SCALARS: Final[Mapping[str, Callable[[object], Outcome]]] = {
    "String": _kind_string,
    "IRI": _kind_iri,
    "URI": _kind_pattern(_URI, "an absolute URI"),
    "LanguageCode": _kind_pattern(_LANGUAGE, "a BCP 47 language code"),
    "CompactJws": _kind_pattern(_COMPACT_JWS, "a compact JWS"),
    "CountryCode": _kind_pattern(_COUNTRY_CODE, "an ISO 3166-1 alpha-2 country code"),
    "DateTimeZ": _kind_date_time(zone_required=True),
    "DateTime": _kind_date_time(zone_required=False),
    "Date": _kind_date,
    "Float": _kind_float,
    "Boolean": _kind_bool,
    "AchievementType": _kind_enum(_ACHIEVEMENT_TYPES, extensible=True),
    "AlignmentTargetType": _kind_enum(_ALIGNMENT_TARGET_TYPES, extensible=True),
    "IdentifierTypeEnum": _kind_enum(_IDENTIFIER_TYPES, extensible=True),
    "ResultType": _kind_enum(_RESULT_TYPES, extensible=True),
    "ResultStatusType": _kind_enum(_RESULT_STATUSES, extensible=False),
}


def _cls(
    name: str, fields: Mapping[str, _Field], *, typed: bool = True, closed: bool = False
) -> _Class:
    return _Class(name, fields, (name,) if typed and "type" in fields else (), closed)


_NAME_PARTS = (  # the PersonNameParts mixin
    "familyName givenName additionalName patronymicName honorificPrefix honorificSuffix "
    "familyNamePrefix"
)
_CLASSES: Final[Mapping[str, _Class]] = {
    c.name: c
    for c in (
        _cls(
            "Achievement",
            {
                "id": _URI_REQ,
                "type": _TYPE_SET,
                "alignment": _Field("Alignment", many=True),
                "achievementType": _Field("AchievementType"),
                "creator": _Field("Profile"),
                "creditsAvailable": _Field("Float"),
                "criteria": _Field("Criteria", required=True),
                "description": _REQ,
                "endorsement": _ENDORSEMENTS,
                "endorsementJwt": _JWS_LIST,
                "fieldOfStudy": _STR,
                "humanCode": _STR,
                "image": _Field("Image"),
                "inLanguage": _Field("LanguageCode"),
                "name": _REQ,
                "otherIdentifier": _Field("IdentifierEntry", many=True),
                "related": _Field("Related", many=True),
                "resultDescription": _Field("ResultDescription", many=True),
                "specialization": _STR,
                "tag": _Field("String", many=True),
                "version": _STR,
            },
        ),
        _cls(
            "AchievementSubject",
            {
                "id": _URI_OPT,
                "type": _TYPE_SET,
                "activityEndDate": _Field("DateTime"),
                "activityStartDate": _Field("DateTime"),
                "creditsEarned": _Field("Float"),
                "achievement": _Field("Achievement", required=True),
                "identifier": _Field("IdentityObject", many=True),
                "image": _Field("Image"),
                "licenseNumber": _STR,
                "narrative": _STR,
                "result": _Field("Result", many=True),
                "role": _STR,
                "source": _Field("Profile"),
                "term": _STR,
            },
        ),
        _cls(
            "Address",
            {
                "type": _TYPE_SET,
                "addressCountryCode": _Field("CountryCode"),
                "geo": _Field("GeoCoordinates"),
                **_strings_named(
                    "addressCountry addressRegion addressLocality streetAddress "
                    "postOfficeBoxNumber postalCode"
                ),
            },
        ),
        _cls(
            "Alignment",
            {
                "type": _TYPE_SET,
                "targetCode": _STR,
                "targetDescription": _STR,
                "targetName": _REQ,
                "targetFramework": _STR,
                "targetType": _Field("AlignmentTargetType"),
                "targetUrl": _URI_REQ,
            },
        ),
        _cls("Criteria", {"id": _URI_OPT, "narrative": _STR}),
        _cls("CredentialSchema", {"id": _URI_REQ, "type": _TYPE_ONE}, typed=False),
        _cls("CredentialStatus", {"id": _URI_REQ, "type": _TYPE_ONE}, typed=False),
        _cls("EndorsementSubject", {"id": _URI_REQ, "type": _TYPE_SET, "endorsementComment": _STR}),
        _cls(
            "Evidence",
            {
                "id": _URI_OPT,
                "type": _TYPE_SET,
                **_strings_named("narrative name description genre audience"),
            },
        ),
        _cls(
            "GeoCoordinates",
            {
                "type": _TYPE_ONE,
                "latitude": _Field("Float", True),
                "longitude": _Field("Float", True),
            },
        ),
        _cls(
            "IdentifierEntry",
            {
                "type": _TYPE_ONE,
                "identifier": _REQ,
                "identifierType": _Field("IdentifierTypeEnum", True),
            },
            closed=True,
        ),
        _cls(
            "IdentityObject",
            {
                "type": _TYPE_ONE,
                "hashed": _Field("Boolean", True),
                "identityHash": _REQ,
                "identityType": _Field("IdentifierTypeEnum", True),
                "salt": _STR,
            },
            closed=True,
        ),
        _cls("Image", {"id": _URI_REQ, "type": _TYPE_ONE, "caption": _STR}, closed=True),
        _cls(
            "Profile",
            {
                "id": _URI_REQ,
                "type": _TYPE_SET,
                "name": _STR,
                "url": _URI_OPT,
                "phone": _STR,
                "description": _STR,
                "endorsement": _ENDORSEMENTS,
                "endorsementJwt": _JWS_LIST,
                "image": _Field("Image"),
                "email": _STR,
                "address": _Field("Address"),
                "otherIdentifier": _Field("IdentifierEntry", many=True),
                "official": _STR,
                "parentOrg": _Field("Profile"),
                **_strings_named(_NAME_PARTS),
                "dateOfBirth": _Field("Date"),
            },
        ),
        _cls(
            "Proof",
            {
                "type": _TYPE_ONE,
                "created": _Field("DateTime"),
                "verificationMethod": _URI_OPT,
                **_strings_named("cryptosuite challenge domain nonce proofPurpose proofValue"),
            },
            typed=False,
        ),
        _cls("RefreshService", {"id": _URI_REQ, "type": _TYPE_ONE}, typed=False),
        _cls(
            "Related",
            {
                "id": _URI_REQ,
                "type": _TYPE_SET,
                "inLanguage": _Field("LanguageCode"),
                "version": _STR,
            },
        ),
        _cls(
            "Result",
            {
                "type": _TYPE_SET,
                "achievedLevel": _URI_OPT,
                "alignment": _Field("Alignment", many=True),
                "resultDescription": _URI_OPT,
                "status": _Field("ResultStatusType"),
                "value": _STR,
            },
        ),
        _cls(
            "ResultDescription",
            {
                "id": _URI_REQ,
                "type": _TYPE_SET,
                "alignment": _Field("Alignment", many=True),
                "allowedValue": _Field("String", many=True),
                "name": _REQ,
                "requiredLevel": _URI_OPT,
                "requiredValue": _STR,
                "resultType": _Field("ResultType", True),
                "rubricCriterionLevel": _Field("RubricCriterionLevel", many=True),
                "valueMax": _STR,
                "valueMin": _STR,
            },
        ),
        _cls(
            "RubricCriterionLevel",
            {
                "id": _URI_REQ,
                "type": _TYPE_SET,
                "alignment": _Field("Alignment", many=True),
                **_strings_named("description level points"),
                "name": _REQ,
            },
        ),
        _cls("TermsOfUse", {"id": _URI_OPT, "type": _TYPE_ONE}, typed=False),
    )
}


def _credential_fields(version: int, *, endorsement: bool) -> dict[str, _Field]:
    """AchievementCredential / EndorsementCredential (and their v1p1 forms) without
    `@context` and `type`, which `_check_credential` checks itself."""
    fields: dict[str, _Field] = {
        "id": _URI_REQ,
        # v1p1 names the credential always; the VC 2.0 form only names endorsements.
        "name": _REQ if endorsement or version == 1 else _STR,
        "description": _STR,
        "awardedDate": _Field("DateTimeZ"),
        # VerifiableCredentialv1p1 has issuer Profile; VerifiableCredential has ProfileRef.
        "issuer": _Field("Profile" if version == 1 else "ProfileRef", required=True),
        "proof": _Field("Proof", many=True, compact=True),
        "credentialSchema": _Field("CredentialSchema", many=True, compact=True),
        "credentialStatus": _Field("CredentialStatus"),
        "refreshService": _Field("RefreshService"),
        "termsOfUse": _Field("TermsOfUse", many=True, compact=True),
    }
    start, end = ("issuanceDate", "expirationDate") if version == 1 else ("validFrom", "validUntil")
    fields[start] = _Field("DateTimeZ", required=True)
    fields[end] = _Field("DateTimeZ")
    if endorsement:
        fields["credentialSubject"] = _Field("EndorsementSubject", required=True)
        return fields
    fields["credentialSubject"] = _Field("AchievementSubject", required=True)
    fields["image"] = _Field("Image")
    fields["endorsement"] = _ENDORSEMENTS
    fields["endorsementJwt"] = _JWS_LIST
    fields["evidence"] = _Field("Evidence", many=True)
    return fields


_CREDENTIAL_FIELDS: Final[Mapping[tuple[int, bool], Mapping[str, _Field]]] = {
    (version, endorsement): _credential_fields(version, endorsement=endorsement)
    for version in (1, 2)
    for endorsement in (False, True)
}


def check_ob3_structure(doc: object, *, strict: bool = False) -> list[Problem]:
    """Problems of `doc` as an OB 3.0 AchievementCredential/OpenBadgeCredential, or as an
    EndorsementCredential when its type says so. VC 1.1-based credentials (the spec's
    AchievementCredentialv1p1 classes) are accepted. `strict` adds the spec's SHOULDs."""
    report = _Report()
    if not isinstance(doc, dict):
        report.add("ob_not_object", _ROOT, "a credential must be a JSON object")
        return report.result()
    context = doc.get("@context")
    first = context[0] if isinstance(context, list) and context else None
    walk = _Walk(report, 1 if first == VC1_CONTEXT else 2, strict)
    names = _strings(doc.get("type")) or []
    _check_credential(doc, _ROOT, walk, 0, endorsement=_OB_ENDORSEMENT_TYPE in names)
    return report.result()


def _check_credential(
    doc: object, path: str, walk: _Walk, depth: int, *, endorsement: bool
) -> None:
    if not isinstance(doc, dict):
        walk.report.add("ob_field_type", path, "must be a credential object")
        return
    _check_ob_context(doc, path, walk)
    _check_credential_type(doc, path, walk.report, endorsement=endorsement)
    fields = _CREDENTIAL_FIELDS[walk.version, endorsement]
    for name, spec in fields.items():
        _check_field(doc, name, spec, path, walk, depth)


def _check_ob_context(doc: dict[object, object], path: str, walk: _Walk) -> None:
    # OB 3.0 §B AchievementCredential.@context: an ordered set, the VC context first
    # (v2, or v1 for the v1p1 classes) and the OB context second; the rest URIs or maps.
    where = _at(path, "@context")
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
            "ob_context_invalid", _item(where, 0), f"the first @context item must be {base}"
        )
    if len(context) < 2 or not (
        isinstance(context[1], str) and OB_CONTEXT_PATTERN.fullmatch(context[1])
    ):
        elsewhere = any(
            isinstance(item, str) and OB_CONTEXT_PATTERN.fullmatch(item) for item in context
        )
        message = "must be the second @context item" if elsewhere else "is missing from @context"
        walk.report.add("ob_context_missing", _item(where, 1), f"the OB 3.0 context {message}")
    for index, item in enumerate(context[2:], start=2):
        if not isinstance(item, str | dict):
            walk.report.add(
                "ob_context_invalid", _item(where, index), "must be a URI or a context object"
            )


def _check_credential_type(
    doc: dict[object, object], path: str, report: _Report, *, endorsement: bool
) -> None:
    where = _at(path, "type")
    if "type" not in doc:
        report.add("ob_field_missing", where, "type is required")
        return
    value = doc["type"]
    names = _strings(value)
    if names is None or (isinstance(value, list) and len(names) != len(value)):
        report.add("ob_field_type", where, "type must be an array of strings")
    names = names or []
    wanted = (_OB_ENDORSEMENT_TYPE,) if endorsement else _OB_ACHIEVEMENT_TYPES
    if "VerifiableCredential" not in names or not any(name in names for name in wanted):
        kinds = " or ".join(wanted)
        report.add("ob_type_missing", where, f"type must include VerifiableCredential and {kinds}")


def _check_field(
    obj: dict[object, object], name: str, spec: _Field, path: str, walk: _Walk, depth: int
) -> None:
    where = _at(path, name)
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
            _check_value(item, spec.kind, _item(where, index), walk, depth)


def _check_value(value: object, kind: str, path: str, walk: _Walk, depth: int) -> None:
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        outcome = scalar(value)
        if outcome is not None:
            walk.report.add(outcome[0], path, f"{path.rsplit('.', 1)[-1]} {outcome[1]}")
    elif kind == "ProfileRef" and not isinstance(value, dict):
        if not _is_uri(value):
            walk.report.add("ob_field_type", path, "issuer must be a URI or a Profile object")
    elif depth >= MAX_DEPTH:
        walk.report.add("ob_too_deep", path, f"objects are nested more than {MAX_DEPTH} deep")
    elif kind == "Endorsement":
        _check_credential(value, path, walk, depth + 1, endorsement=True)
    else:
        _check_object(
            value, _CLASSES["Profile" if kind == "ProfileRef" else kind], path, walk, depth + 1
        )


def _check_object(value: object, cls: _Class, path: str, walk: _Walk, depth: int) -> None:
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
                    "ob_field_unexpected", _at(path, name), f"{cls.name} has no such property"
                )
    _CLASS_RULES.get(cls.name, _no_rule)(value, path, walk)


def _check_class_type(value: dict[object, object], cls: _Class, path: str, report: _Report) -> None:
    names = _strings(value.get("type"))
    if names is not None and not any(name in names for name in cls.type_names):
        report.add("ob_type_missing", _at(path, "type"), f"type must include {cls.type_names[0]}")


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
        walk.report.add("ob_identity_hash_invalid", _at(path, "identityHash"), message)


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
    names = _strings(doc.get("type")) or []
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
