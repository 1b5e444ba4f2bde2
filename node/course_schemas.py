"""The OpenAPI schemas of the course routes' bodies (node/course_routes.py), merged into
node/openapi_schemas.py's table; each says what node/courses.py and node/webmention.py check.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["course_schemas"]

_URL: Final = {"type": "string", "maxLength": 2048, "pattern": "^https?://[^\\s]{1,2040}$"}
_HASHTAG: Final = {"type": "string", "pattern": "^#?[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$"}
_EMAIL: Final = {"type": "string", "maxLength": 320, "pattern": "^[^@\\s]{1,64}@[^@\\s]{1,255}$"}


def _text(max_chars: int) -> dict[str, Any]:
    """Text of 1 to `max_chars` characters (blank is text too: node/courses.py keeps it)."""
    return {"type": "string", "minLength": 1, "maxLength": max_chars}


def _absent() -> dict[str, Any]:
    return {"anyOf": [{"type": "null"}, {"const": ""}]}


def course_schemas(did_key: dict[str, Any], class_request: dict[str, Any]) -> dict[str, Any]:
    """The course routes' request schemas; a task is a class request with its hashtag."""
    task = class_request["properties"] | {"hashtag": _HASHTAG, "auto_award": {"type": "boolean"}}
    return {
        "CourseRequest": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": _text(200),
                "description": {
                    "anyOf": [{"type": "null"}, {"type": "string", "maxLength": 10_000}]
                },
            },
        },
        "TaskRequest": {
            "type": "object",
            "required": [*class_request["required"], "hashtag"],
            "additionalProperties": False,
            "properties": task,
        },
        "ParticipantRequest": {
            "type": "object",
            "required": ["feed"],
            "additionalProperties": False,
            "properties": {
                "feed": _URL,
                "did": {"anyOf": [_absent(), did_key]},
                "email": {"anyOf": [_absent(), _EMAIL]},
            },
            "oneOf": [  # exactly one of a did:key and an email
                {"required": ["did"], "properties": {"did": did_key, "email": _absent()}},
                {"required": ["email"], "properties": {"email": _EMAIL, "did": _absent()}},
            ],
        },
        "CompletionRequest": class_request,
        "DeclineRequest": {
            "type": "object",
            "required": ["reason"],
            "additionalProperties": False,
            "properties": {"reason": _text(2000)},
        },
        "WebmentionForm": {
            "type": "object",
            "required": ["source", "target"],
            "additionalProperties": False,
            "properties": {"source": _URL, "target": _URL},
        },
    }
