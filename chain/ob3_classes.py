"""A declared data table: the Open Badges 3.0 data model as classes of typed fields.
chain.structure walks a credential with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from .lexical import (
    COMPACT_JWS_PATTERN,
    COUNTRY_CODE_PATTERN,
    LANGUAGE_PATTERN,
    URI_PATTERN,
    Outcome,
    kind_bool,
    kind_date,
    kind_date_time,
    kind_enum,
    kind_float,
    kind_iri,
    kind_pattern,
    kind_string,
)

__all__ = ["CLASSES", "CREDENTIAL_FIELDS", "SCALARS", "Field", "ObClass"]

# The classes below transcribe OB 3.0 Appendix B (org.1edtech.ob.v3p0.model) and the
# shared credential models: property names, their types and their multiplicities. A
# "compact" property is one the spec's "Compacted document form" table lets hold a single
# value instead of an array.


@dataclass(frozen=True, slots=True)
class Field:
    kind: str  # a scalar kind of SCALARS, a class of CLASSES, or ProfileRef / Endorsement
    required: bool = False
    many: bool = False  # an unordered set: a JSON array
    compact: bool = False  # ...or a single value


@dataclass(frozen=True, slots=True)
class ObClass:
    name: str
    fields: Mapping[str, Field]
    type_names: tuple[str, ...] = ()  # `type` must include (or be) one of these
    closed: bool = False  # no properties beyond `fields` (the class has no Extensions mixin)


_REQ = Field("String", required=True)
_STR = Field("String")
_URI_REQ = Field("URI", required=True)
_URI_OPT = Field("URI")
_TYPE_SET = Field("IRI", required=True, many=True, compact=True)  # IRI 1..* array-compacted
_TYPE_ONE = Field("IRI", required=True)  # IRI 1
_ENDORSEMENTS = Field("Endorsement", many=True)
_JWS_LIST = Field("CompactJws", many=True)


def _terms(words: str) -> frozenset[str]:
    """A vocabulary written as space-separated words."""
    return frozenset(words.split())


def _strings_named(words: str) -> dict[str, Field]:
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

SCALARS: Final[Mapping[str, Callable[[object], Outcome]]] = {
    "String": kind_string,
    "IRI": kind_iri,
    "URI": kind_pattern(URI_PATTERN, "an absolute URI"),
    "LanguageCode": kind_pattern(LANGUAGE_PATTERN, "a BCP 47 language code"),
    "CompactJws": kind_pattern(COMPACT_JWS_PATTERN, "a compact JWS"),
    "CountryCode": kind_pattern(COUNTRY_CODE_PATTERN, "an ISO 3166-1 alpha-2 country code"),
    "DateTimeZ": kind_date_time(zone_required=True),
    "DateTime": kind_date_time(zone_required=False),
    "Date": kind_date,
    "Float": kind_float,
    "Boolean": kind_bool,
    "AchievementType": kind_enum(_ACHIEVEMENT_TYPES, extensible=True),
    "AlignmentTargetType": kind_enum(_ALIGNMENT_TARGET_TYPES, extensible=True),
    "IdentifierTypeEnum": kind_enum(_IDENTIFIER_TYPES, extensible=True),
    "ResultType": kind_enum(_RESULT_TYPES, extensible=True),
    "ResultStatusType": kind_enum(_RESULT_STATUSES, extensible=False),
}


def _cls(
    name: str, fields: Mapping[str, Field], *, typed: bool = True, closed: bool = False
) -> ObClass:
    return ObClass(name, fields, (name,) if typed and "type" in fields else (), closed)


_NAME_PARTS = (  # the PersonNameParts mixin
    "familyName givenName additionalName patronymicName honorificPrefix honorificSuffix "
    "familyNamePrefix"
)
CLASSES: Final[Mapping[str, ObClass]] = {
    c.name: c
    for c in (
        _cls(
            "Achievement",
            {
                "id": _URI_REQ,
                "type": _TYPE_SET,
                "alignment": Field("Alignment", many=True),
                "achievementType": Field("AchievementType"),
                "creator": Field("Profile"),
                "creditsAvailable": Field("Float"),
                "criteria": Field("Criteria", required=True),
                "description": _REQ,
                "endorsement": _ENDORSEMENTS,
                "endorsementJwt": _JWS_LIST,
                "fieldOfStudy": _STR,
                "humanCode": _STR,
                "image": Field("Image"),
                "inLanguage": Field("LanguageCode"),
                "name": _REQ,
                "otherIdentifier": Field("IdentifierEntry", many=True),
                "related": Field("Related", many=True),
                "resultDescription": Field("ResultDescription", many=True),
                "specialization": _STR,
                "tag": Field("String", many=True),
                "version": _STR,
            },
        ),
        _cls(
            "AchievementSubject",
            {
                "id": _URI_OPT,
                "type": _TYPE_SET,
                "activityEndDate": Field("DateTime"),
                "activityStartDate": Field("DateTime"),
                "creditsEarned": Field("Float"),
                "achievement": Field("Achievement", required=True),
                "identifier": Field("IdentityObject", many=True),
                "image": Field("Image"),
                "licenseNumber": _STR,
                "narrative": _STR,
                "result": Field("Result", many=True),
                "role": _STR,
                "source": Field("Profile"),
                "term": _STR,
            },
        ),
        _cls(
            "Address",
            {
                "type": _TYPE_SET,
                "addressCountryCode": Field("CountryCode"),
                "geo": Field("GeoCoordinates"),
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
                "targetType": Field("AlignmentTargetType"),
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
                "latitude": Field("Float", True),
                "longitude": Field("Float", True),
            },
        ),
        _cls(
            "IdentifierEntry",
            {
                "type": _TYPE_ONE,
                "identifier": _REQ,
                "identifierType": Field("IdentifierTypeEnum", True),
            },
            closed=True,
        ),
        _cls(
            "IdentityObject",
            {
                "type": _TYPE_ONE,
                "hashed": Field("Boolean", True),
                "identityHash": _REQ,
                "identityType": Field("IdentifierTypeEnum", True),
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
                "image": Field("Image"),
                "email": _STR,
                "address": Field("Address"),
                "otherIdentifier": Field("IdentifierEntry", many=True),
                "official": _STR,
                "parentOrg": Field("Profile"),
                **_strings_named(_NAME_PARTS),
                "dateOfBirth": Field("Date"),
            },
        ),
        _cls(
            "Proof",
            {
                "type": _TYPE_ONE,
                "created": Field("DateTime"),
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
                "inLanguage": Field("LanguageCode"),
                "version": _STR,
            },
        ),
        _cls(
            "Result",
            {
                "type": _TYPE_SET,
                "achievedLevel": _URI_OPT,
                "alignment": Field("Alignment", many=True),
                "resultDescription": _URI_OPT,
                "status": Field("ResultStatusType"),
                "value": _STR,
            },
        ),
        _cls(
            "ResultDescription",
            {
                "id": _URI_REQ,
                "type": _TYPE_SET,
                "alignment": Field("Alignment", many=True),
                "allowedValue": Field("String", many=True),
                "name": _REQ,
                "requiredLevel": _URI_OPT,
                "requiredValue": _STR,
                "resultType": Field("ResultType", True),
                "rubricCriterionLevel": Field("RubricCriterionLevel", many=True),
                "valueMax": _STR,
                "valueMin": _STR,
            },
        ),
        _cls(
            "RubricCriterionLevel",
            {
                "id": _URI_REQ,
                "type": _TYPE_SET,
                "alignment": Field("Alignment", many=True),
                **_strings_named("description level points"),
                "name": _REQ,
            },
        ),
        _cls("TermsOfUse", {"id": _URI_OPT, "type": _TYPE_ONE}, typed=False),
    )
}


def _credential_fields(version: int, *, endorsement: bool) -> dict[str, Field]:
    """AchievementCredential / EndorsementCredential (and their v1p1 forms) without
    `@context` and `type`, which `_check_credential` checks itself."""
    fields: dict[str, Field] = {
        "id": _URI_REQ,
        # v1p1 names the credential always; the VC 2.0 form only names endorsements.
        "name": _REQ if endorsement or version == 1 else _STR,
        "description": _STR,
        "awardedDate": Field("DateTimeZ"),
        # VerifiableCredentialv1p1 has issuer Profile; VerifiableCredential has ProfileRef.
        "issuer": Field("Profile" if version == 1 else "ProfileRef", required=True),
        "proof": Field("Proof", many=True, compact=True),
        "credentialSchema": Field("CredentialSchema", many=True, compact=True),
        "credentialStatus": Field("CredentialStatus"),
        "refreshService": Field("RefreshService"),
        "termsOfUse": Field("TermsOfUse", many=True, compact=True),
    }
    start, end = ("issuanceDate", "expirationDate") if version == 1 else ("validFrom", "validUntil")
    fields[start] = Field("DateTimeZ", required=True)
    fields[end] = Field("DateTimeZ")
    if endorsement:
        fields["credentialSubject"] = Field("EndorsementSubject", required=True)
        return fields
    fields["credentialSubject"] = Field("AchievementSubject", required=True)
    fields["image"] = Field("Image")
    fields["endorsement"] = _ENDORSEMENTS
    fields["endorsementJwt"] = _JWS_LIST
    fields["evidence"] = Field("Evidence", many=True)
    return fields


CREDENTIAL_FIELDS: Final[Mapping[tuple[int, bool], Mapping[str, Field]]] = {
    (version, endorsement): _credential_fields(version, endorsement=endorsement)
    for version in (1, 2)
    for endorsement in (False, True)
}
